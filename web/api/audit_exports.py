"""Audit exports over the API: a case's audit bundle and a filtered list of events as CSV or XLSX."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_smorest import Blueprint

from orchestrator.errors import InvalidInput
from orchestrator.event_export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, EventFilter
from web.api.context import actor, engine
from web.api.schemas import EventExportArgs
from web.audit_pdf import render_case_report
from web.pages.audit_exports import download

blp = Blueprint("audit_exports", __name__, url_prefix="/api/v1", description="Audit exports")

BINARY = {"type": "string", "format": "binary"}


@blp.route("/instances/<string:instance_id>/audit-bundle", methods=["GET"])
@blp.response(200, BINARY, content_type="application/zip",
              description="manifest.json, definition/…, history.jsonl, case.pdf and VERIFY.txt")
def case_bundle(instance_id: str):
    """The case's audit bundle (.zip), for whoever may read the case.

    The deployed files of its process version, its history as JSON Lines with every hash, its signed head, a
    readable PDF and a manifest of SHA-256 sums; VERIFY.txt says how to check it (README, "Audit")."""
    bundle = engine().audit_exports.case_bundle(actor(), instance_id, render_case_report)
    return download(bundle.content, "application/zip", bundle.filename)


def _utc(args: dict, name: str) -> datetime | None:
    value = args.get(name)
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput("invalid time", {name: "out of range"}) from exc


@blp.route("/audit/events", methods=["GET"])
@blp.arguments(EventExportArgs, location="query")
@blp.doc(responses={"200": {
    "description": "CSV (UTF-8 with a byte-order mark) or, with format=xlsx, an XLSX workbook",
    "content": {CSV_MEDIA_TYPE: {"schema": BINARY}, XLSX_MEDIA_TYPE: {"schema": BINARY}},
    "headers": {"X-Export-Rows": {"description": "events in the file", "schema": {"type": "integer"}},
                "X-Export-Capped": {"description": "true: more events matched than the 100,000 the export holds",
                                    "schema": {"type": "string", "enum": ["true"]}}}}})
def export_events(args):
    """History events of every case as CSV or XLSX (auditors, process owners, admins).

    Oldest first, filtered by process, event time, type, business key, case or actor; at most 100,000
    (`X-Export-Capped: true` when more matched). Columns: case id, business key, process, process version,
    seq, at (ISO 8601, UTC), type, actor, element id, task id, payload (JSON), hash. Text a spreadsheet would
    run as a formula is neutralised (CSV: a leading apostrophe; XLSX: stored as text)."""
    criteria = EventFilter(process_key=args.get("processKey"), after=_utc(args, "after"),
                           before=_utc(args, "before"), types=tuple(args.get("type") or ()),
                           business_key=args.get("businessKey"), instance_id=args.get("instanceId"),
                           actor=args.get("actor"))
    exported = engine().audit_exports.events_file(actor(), criteria, args["format"])
    headers = {"X-Export-Rows": str(exported.rows)}
    if exported.capped:
        headers["X-Export-Capped"] = "true"
    return download(exported.content, exported.media_type, exported.filename, headers)
