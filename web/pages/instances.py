"""Cases: the list, and one case with its diagram, timeline, variables, files, comments and incidents."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from integrations.notify.tracking import case_campaigns
from orchestrator.authorization import Permission, can
from orchestrator.errors import EngineError, NotFound
from orchestrator.models import InstanceStatus
from orchestrator.query_filters import INSTANCE_SORTS, InstanceFilter
from web.model_texts import in_reader_language
from web.pages.case_data import case_data, entered_values
from web.pages.case_replay import replay_data
from web.pages.common import engine, page_count, person, refused, safe_next, signed_in_pages
from web.pages.common import page_number as current_page
from web.pages.inbox import case_models
from web.pages.list_args import day_range, list_args

bp = Blueprint("case_pages", __name__)
signed_in_pages(bp)

PAGE_SIZE = 25


@bp.get("/instances")
def instance_list():
    """Cases I may read (all of them for auditors and process owners), newest first unless sorted; filtered
    by process, status, start day and text over the business key and key data."""
    args = list_args("process", "status", "from", "to", "q")
    after, before = day_range(args)
    if args.get("sort") not in INSTANCE_SORTS:
        args.pop("sort", None)
        args.pop("order", None)
    page_number = current_page()
    criteria = InstanceFilter(definition_key=args.get("process"), status=args.get("status"), text=args.get("q"),
                              started_after=after, started_before=before, sort=args.get("sort", "started"),
                              descending=args.get("order", "desc") == "desc" if "sort" in args else True,
                              limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE)
    page = engine().queries.list_instances(person(), criteria)
    return render_template("instances/list.html", page=page, args=args, page_number=page_number,
                           pages=page_count(page.total, PAGE_SIZE),
                           processes=case_models().names, statuses=list(InstanceStatus))


@bp.get("/instances/<string:instance_id>")
def instance_page(instance_id: str):
    actor = person()
    try:
        case = engine().case_views.case_view(actor, instance_id)
    except NotFound:
        return render_template("errors/not_found.html", what=_("case")), 404
    model = in_reader_language(case.model)
    markers = {"passed": case.passed_elements, "active": case.waiting_elements, "failed": case.failed_elements}
    with engine().db.reading() as session:  # counted from the message rows as they are now
        campaigns = case_campaigns(session, instance_id)
    return render_template("instances/detail.html", case=case, instance=case.instance, definition=case.definition,
                           campaigns=campaigns,
                           context=case_data(model, case.instance, list(case.history)), markers=markers,
                           process_name=model.title, diagram_xml=model.texts.diagram(case.diagram_xml, model.language),
                           entered_values=lambda values: entered_values(model, values),
                           may_retry=can(actor, Permission.RETRY_INCIDENTS), replay=replay_data(case, model))


@bp.post("/instances/<string:instance_id>/comments")
def add_comment(instance_id: str):
    back = safe_next(request.form.get("next"), url_for("case_pages.instance_page", instance_id=instance_id))
    try:
        engine().comments.add_comment(instance_id, request.form.get("text", ""), actor=person())
    except EngineError as exc:
        return refused(exc, back)
    flash(_("Comment added."), "info")
    return redirect(back)


@bp.post("/incidents/<int:incident_id>/retry")
def retry_incident(incident_id: int):
    back = safe_next(request.form.get("next"), url_for("inbox.inbox"))
    try:
        engine().jobs.retry_incident(incident_id, actor=person())
    except EngineError as exc:
        return refused(exc, back)
    flash(_("The job runs again."), "info")
    return redirect(back)


@bp.get("/attachments/<string:attachment_id>")
def download(attachment_id: str):
    """The file as uploaded, as a download (never rendered inline, so an upload cannot script the site)."""
    try:
        row = engine().attachments.attachment_for(person(), attachment_id)
    except NotFound:
        return render_template("errors/not_found.html", what=_("file")), 404
    inline = request.args.get("inline") == "1" and row.content_type.startswith("image/")
    disposition = "inline" if inline else "attachment"
    return Response(row.content, mimetype=row.content_type, headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(row.filename, safe='')}",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'",
    })
