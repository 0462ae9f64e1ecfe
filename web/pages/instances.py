"""Cases: the list, and one case with its diagram, timeline, variables, files, comments and incidents; for
process owners the case's repair: its data edited with a reason, cancel, suspend, resume, a message delivered."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from integrations.notify.tracking import case_campaigns
from orchestrator.authorization import Permission, can, require
from orchestrator.errors import EngineError, Forbidden, InvalidInput, NotFound
from orchestrator.migration_variables import expected_after
from orchestrator.models import InstanceStatus
from orchestrator.query_filters import INSTANCE_SORTS, InstanceFilter
from web.model_texts import in_reader_language
from web.pages.case_data import case_data, entered_values
from web.pages.case_operations import (
    MESSAGE_ROWS,
    RepairForm,
    has_errors,
    message_variables,
    place_errors,
    read_repair_form,
    register_routes,
    repair_form,
)
from web.pages.case_replay import replay_data
from web.pages.common import engine, page_count, person, refusal, refused, safe_next, signed_in_pages
from web.pages.common import page_number as current_page
from web.pages.inbox import case_models
from web.pages.list_args import day_range, list_args

bp = Blueprint("case_pages", __name__)
signed_in_pages(bp)
register_routes(bp)  # the "Move the case" POST (web/pages/case_operations.py)

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
    may_batch = can(person(), Permission.MANAGE_INSTANCES)  # the "apply to all matching cases" form
    versions = [d.version for d in engine().queries.list_definitions(args["process"])] \
        if may_batch and args.get("process") else []
    return render_template("instances/list.html", page=page, args=args, page_number=page_number,
                           pages=page_count(page.total, PAGE_SIZE),
                           processes=case_models().names, statuses=list(InstanceStatus),
                           may_batch=may_batch, versions=versions)


@bp.get("/instances/<string:instance_id>")
def instance_page(instance_id: str):
    return _case_page(instance_id)


def _case_page(instance_id: str, repair: RepairForm | None = None, status: int = 200):
    """The case page; `repair` is the edit form as entered, shown again with its errors."""
    actor = person()
    try:
        case = engine().case_views.case_view(actor, instance_id)
    except NotFound:
        return render_template("errors/not_found.html", what=_("case")), 404
    model = in_reader_language(case.model)
    markers = {"passed": case.passed_elements, "active": case.waiting_elements, "failed": case.failed_elements}
    with engine().db.reading() as session:  # counted from the message rows as they are now
        campaigns = case_campaigns(session, instance_id)
    may_manage = can(actor, Permission.MANAGE_INSTANCES)
    open_case = case.instance.status in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)
    if may_manage and open_case and repair is None:
        repair = repair_form(model, case.instance.variables)
    return render_template("instances/detail.html", case=case, instance=case.instance, definition=case.definition,
                           campaigns=campaigns,
                           context=case_data(model, case.instance, list(case.history)), markers=markers,
                           process_name=model.title, diagram_xml=model.texts.diagram(case.diagram_xml, model.language),
                           entered_values=lambda values: entered_values(model, values),
                           may_retry=can(actor, Permission.RETRY_INCIDENTS), replay=replay_data(case, model),
                           may_manage=may_manage and open_case, repair=repair if open_case else None,
                           may_deliver=may_manage and can(actor, Permission.CORRELATE)
                           and case.instance.status == InstanceStatus.RUNNING, message_rows=MESSAGE_ROWS,
                           message_expects=_message_expects(case, model)), status


def _message_expects(case, model) -> dict[str, list[str]]:
    """Per message the case waits for, the variables it is expected to bring (first rows of its form)."""
    waits: dict[str, list[str]] = {}
    for element_id, message in case.message_waits:
        waits.setdefault(message, []).append(element_id)
    have = case.instance.variables or {}
    return {message: expected_after(model, elements, have) for message, elements in waits.items()}


def _back_to_case(instance_id: str, anchor: str = "") -> str:
    return url_for("case_pages.instance_page", instance_id=instance_id) + anchor


@bp.post("/instances/<string:instance_id>/variables")
def edit_variables(instance_id: str):
    """Change the case's data with a reason; then, if asked, retry its incidents so the case goes on."""
    actor = person()
    try:
        require(actor, Permission.MANAGE_INSTANCES)  # before the form is read: a role without it hears 403
        case = engine().case_views.case_view(actor, instance_id)
    except NotFound:
        return render_template("errors/not_found.html", what=_("case")), 404
    except EngineError as exc:
        return refused(exc, _back_to_case(instance_id))
    model = in_reader_language(case.model)
    shown, edit = read_repair_form(request.form, model, case.instance.variables)
    if not edit.comment.strip():
        shown.comment_error = _("Say why the case's data is changed.")
    if has_errors(shown):
        return _case_page(instance_id, shown, 422)
    try:
        engine().case_repair.edit_variables(instance_id, edit, actor=actor)
    except InvalidInput as exc:
        place_errors(shown, exc.errors, exc.message)
        return _case_page(instance_id, shown, 422)
    except EngineError as exc:
        return refused(exc, _back_to_case(instance_id))
    flash(_("The case's data was changed."), "info")
    if shown.retry:
        _retry_incidents(actor, case.incidents)
    return redirect(_back_to_case(instance_id))


def _retry_incidents(actor, incidents) -> None:
    for incident in incidents:
        try:
            engine().jobs.retry_incident(incident.id, actor=actor)
        except EngineError as exc:
            flash(refusal(exc), "error")
        else:
            flash(_("The job runs again with the new data."), "info")


@bp.post("/instances/<string:instance_id>/cancel")
def cancel_instance(instance_id: str):
    reason = request.form.get("reason", "").strip()
    if not can(person(), Permission.MANAGE_INSTANCES):
        return refused(Forbidden("may not cancel cases"), _back_to_case(instance_id))
    if not reason:
        flash(_("Say why the case is cancelled; it was not cancelled."), "error")
        return redirect(_back_to_case(instance_id, "#case-operations"))
    return _operation(instance_id, lambda: engine().instances.cancel_instance(
        instance_id, actor=person(), reason=reason[:1000]), _("The case was cancelled."))


@bp.post("/instances/<string:instance_id>/suspend")
def suspend_instance(instance_id: str):
    return _operation(instance_id, lambda: engine().instances.suspend_instance(instance_id, actor=person()),
                      _("The case is suspended: no timer fires and no job starts until it is resumed."))


@bp.post("/instances/<string:instance_id>/resume")
def resume_instance(instance_id: str):
    return _operation(instance_id, lambda: engine().instances.resume_instance(instance_id, actor=person()),
                      _("The case runs again."))


@bp.post("/instances/<string:instance_id>/messages")
def deliver_message(instance_id: str):
    """Hand the case a message it waits for, with the variables entered as name/value rows."""
    variables, errors = message_variables(request.form)
    if not (can(person(), Permission.MANAGE_INSTANCES) and can(person(), Permission.CORRELATE)):
        return refused(Forbidden("may not deliver messages"), _back_to_case(instance_id))
    if errors:
        flash(_("Message not delivered: %(problem)s", problem=next(iter(errors.values()))), "error")
        return redirect(_back_to_case(instance_id, "#case-messages"))
    name = request.form.get("message", "")
    return _operation(instance_id, lambda: engine().case_repair.deliver_message(
        instance_id, name, variables, actor=person()), _("Message %(name)s delivered.", name=name))


@bp.post("/instances/<string:instance_id>/signals")
def deliver_signal(instance_id: str):
    """Hand the case a signal it waits for, as if a case or system had sent it (it reaches this case only)."""
    if not (can(person(), Permission.MANAGE_INSTANCES) and can(person(), Permission.CORRELATE)):
        return refused(Forbidden("may not deliver signals"), _back_to_case(instance_id))
    name = request.form.get("signal", "")
    return _operation(instance_id, lambda: engine().bpmn_signals.deliver(instance_id, name, actor=person()),
                      _("Signal %(name)s delivered.", name=name))


def _operation(instance_id: str, command, done: str):
    """Run one command on the case; its refusal (already ended, not allowed) is flashed, never a 500."""
    try:
        command()
    except EngineError as exc:
        return refused(exc, _back_to_case(instance_id))
    flash(done, "info")
    return redirect(_back_to_case(instance_id))


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
