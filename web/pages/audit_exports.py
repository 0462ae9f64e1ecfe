"""Audit exports for people: a case's audit bundle and a filtered list of events as CSV or XLSX."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template
from flask_babel import gettext as _

from orchestrator.errors import Forbidden, NotFound
from orchestrator.event_export import EventFilter
from web.audit_pdf import render_case_report
from web.pages.common import engine, person, signed_in_pages
from web.pages.inbox import case_models
from web.pages.labels import LABELS
from web.pages.list_args import day_range, list_args

bp = Blueprint("audit_export_pages", __name__)
signed_in_pages(bp)

FILTERS = ("process", "from", "to", "type", "business_key", "case")
# the types the filter offers: the labelled ones and those recorded without a label of their own
EVENT_TYPES = tuple(sorted({*LABELS["event"], "state_recorded", "job_lease_expired", "job_unlocked"}))


def download(content: bytes, media_type: str, filename: str, headers: dict[str, str] | None = None) -> Response:
    """A file to save, never shown inline."""
    return Response(content, mimetype=media_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", **(headers or {})})


@bp.get("/instances/<string:instance_id>/audit-bundle")
def case_bundle(instance_id: str):
    """The case's audit bundle (.zip) for whoever may read the case."""
    try:
        bundle = engine().audit_exports.case_bundle(person(), instance_id, render_case_report)
    except NotFound:
        return render_template("errors/not_found.html", what=_("case")), 404
    return download(bundle.content, "application/zip", bundle.filename)


def _criteria() -> tuple[EventFilter, dict[str, str]]:
    """The filter of the query string (malformed days are dropped, as on the case list)."""
    args = {key: value for key, value in list_args(*FILTERS).items() if key in FILTERS}
    after, before = day_range(args)
    event_type = args.get("type")
    if event_type not in EVENT_TYPES:
        args.pop("type", None)
        event_type = None
    criteria = EventFilter(process_key=args.get("process"), after=after, before=before,
                           types=(event_type,) if event_type else (), business_key=args.get("business_key"),
                           instance_id=args.get("case"))
    return criteria, args


@bp.get("/audit/events")
def events():
    """The filter, how many events match, the first of them, and links to download them all."""
    criteria, args = _criteria()
    try:
        preview = engine().audit_exports.preview_events(person(), criteria)
    except Forbidden:
        abort(403)
    return render_template("audit/events.html", preview=preview, args=args, processes=case_models().names,
                           event_types=EVENT_TYPES)


def _events_file(file_format: str):
    criteria, _args = _criteria()
    try:
        exported = engine().audit_exports.events_file(person(), criteria, file_format)
    except Forbidden:
        abort(403)
    headers = {"X-Export-Rows": str(exported.rows)}
    if exported.capped:
        headers["X-Export-Capped"] = "true"
    return download(exported.content, exported.media_type, exported.filename, headers)


@bp.get("/audit/events.csv")
def events_csv():
    return _events_file("csv")


@bp.get("/audit/events.xlsx")
def events_xlsx():
    return _events_file("xlsx")
