"""The process owner's list of processes: every definition with its versions, counts, diagrams, files and diffs."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _

from orchestrator.authorization import Permission, can
from orchestrator.errors import EngineError, NotFound
from web.model_texts import model_of
from web.pages.common import engine, person, refusal, signed_in_pages

bp = Blueprint("process_pages", __name__)
signed_in_pages(bp)

FILE_TYPES = {"bpmn": "application/xml", "dmn": "application/xml", "texts": "application/json"}


def _refused():
    """Only those who deploy models (process owners, admins) see this workspace."""
    return render_template("errors/message.html", heading=_("Processes"),
                           message=_("Your role does not allow reading the deployed processes.")), 403


def _not_found(what: str):
    return render_template("errors/not_found.html", what=what), 404


def _title(definition_id: int, fallback: str) -> str:
    model = model_of(definition_id)
    return model.title if model is not None else fallback


def _diagram(definition_id: int, xml: str) -> str:
    """The diagram with its names in the reader's language, as the case page shows it."""
    model = model_of(definition_id)
    return model.texts.diagram(xml, model.language) if model is not None else xml


@bp.get("/processes")
def process_list():
    """Every deployed process with its versions, newest first, and each version's cases by status."""
    if not can(person(), Permission.DEPLOY):
        return _refused()
    processes = engine().process_catalog.list_processes(person())
    titles = {p.key: _title(p.latest.definition_id, p.name or p.key) for p in processes}
    return render_template("processes/list.html", processes=processes, titles=titles)


@bp.get("/processes/<string:key>/versions/<int:version>")
def version_page(key: str, version: int):
    """One version: its diagram, its counts, the files deployed with it, and a start on this very version."""
    actor = person()
    if not can(actor, Permission.DEPLOY):
        return _refused()
    try:
        detail = engine().process_catalog.version(actor, key, version)
    except NotFound:
        return _not_found(_("process version"))
    summary = detail.summary
    may_start = can(actor, Permission.START) and _has_start_form(summary.definition_id)
    return render_template("processes/version.html", detail=detail, summary=summary,
                           process_name=_title(summary.definition_id, summary.name or key),
                           diagram_xml=_diagram(summary.definition_id, detail.diagram_xml), may_start=may_start)


def _has_start_form(definition_id: int) -> bool:
    try:
        return bool(engine().queries.process_model(definition_id).start_form)
    except NotFound:
        return False


@bp.get("/processes/<string:key>/versions/<int:version>/files/<path:name>")
def version_file(key: str, version: int, name: str):
    """A file of the version's deployment, as a download byte for byte as deployed."""
    if not can(person(), Permission.DEPLOY):
        return _refused()
    try:
        found = engine().process_catalog.version_file(person(), key, version, name)
    except NotFound:
        return _not_found(_("file"))
    return Response(found.content, mimetype=FILE_TYPES.get(found.kind, "application/octet-stream"), headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.name, safe='')}",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'"})


@bp.get("/processes/<string:key>/diff")
def diff_page(key: str):
    """Two versions side by side, the changes marked on both diagrams and listed in a table."""
    actor = person()
    if not can(actor, Permission.DEPLOY):
        return _refused()
    old, new = request.args.get("from", type=int), request.args.get("to", type=int)
    try:
        versions = engine().process_catalog.versions(actor, key)
    except NotFound:
        return _not_found(_("process"))
    numbers = [v.version for v in versions]
    if old is None or new is None or old == new:
        return render_template("processes/diff.html", key=key, diff=None, numbers=numbers, old=old, new=new,
                               process_name=_title(versions[0].definition_id, versions[0].name or key),
                               error=_("Choose two different versions to compare.")), 422
    try:
        diff = engine().process_catalog.diff(actor, key, old, new)
    except NotFound:
        return _not_found(_("process version"))
    except EngineError as exc:
        return render_template("processes/diff.html", key=key, diff=None, numbers=numbers, old=old, new=new,
                               process_name=_title(versions[0].definition_id, versions[0].name or key),
                               error=refusal(exc)), exc.status
    markers = {"old": {"removed": diff.changes.ids("removed"), "changed": diff.changes.ids("changed")},
               "new": {"added": diff.changes.ids("added"), "changed": diff.changes.ids("changed")}}
    return render_template("processes/diff.html", key=key, diff=diff, numbers=numbers, old=old, new=new,
                           process_name=_title(diff.new.definition_id, diff.new.name or key), markers=markers,
                           old_xml=_diagram(diff.old.definition_id, diff.old_xml),
                           new_xml=_diagram(diff.new.definition_id, diff.new_xml), error=None)
