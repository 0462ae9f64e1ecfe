"""REST API: spreadsheet imports (returns, trace events, sales volumes): upload for a preview, start, progress."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from orchestrator.errors import InvalidInput
from orchestrator.import_models import ImportKind
from orchestrator.spreadsheet_imports import UnusableFile, require_kind
from web.api.context import actor
from web.api.idempotency import command
from web.api.problems import PROBLEM
from web.api.schemas import ProblemSchema
from web.import_checkers import checker_for, spreadsheet_imports

blp = Blueprint("spreadsheets", __name__, url_prefix="/api/v1", description="CSV and XLSX exports and imports")

FORBIDDEN = ("The role may not import this kind: returns need START, trace events RECORD_TRACE, sales volumes "
             "READ_REPORTS and DEPLOY (process owners, admins); auditors import nothing")
UPLOAD_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {
        "file": {"type": "string", "format": "binary", "description": "an .xlsx (first sheet) or .csv file with a "
                 "header row; columns matched by id or English label"},
        "kind": {"type": "string", "enum": list(ImportKind)}},
    "required": ["file", "kind"]}}}}}


class ImportErrorSchema(Schema):
    row = fields.Integer(metadata={"description": "the spreadsheet's row number (the header is row 1)"})
    column = fields.String()
    reason = fields.String()


class ImportFailureSchema(Schema):
    row = fields.Integer()
    reason = fields.String()


class ImportSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    filename = fields.String()
    status = fields.String(metadata={"description": "previewed, queued, running, done, failed or discarded"})
    totalRows = fields.Integer(attribute="total_rows")
    validRows = fields.Integer(attribute="valid_rows")
    errorCount = fields.Integer(attribute="error_count")
    errors = fields.Method("_errors", metadata={"description": "the first 1,000 errors"})
    usedColumns = fields.Dict(attribute="used_columns", keys=fields.String(), values=fields.String())
    ignoredColumns = fields.List(fields.String(), attribute="ignored_columns")
    requestedBy = fields.String(attribute="requested_by")
    createdAt = fields.DateTime(attribute="created_at")
    startedAt = fields.DateTime(attribute="started_at", allow_none=True)
    finishedAt = fields.DateTime(attribute="finished_at", allow_none=True)
    done = fields.Integer()
    failed = fields.Integer()
    percent = fields.Integer()
    failures = fields.Method("_failures")

    def _errors(self, view) -> list[dict]:
        return [{"row": row, "column": column, "reason": reason} for row, column, reason in view.errors]

    def _failures(self, view) -> list[dict]:
        return [{"row": row, "reason": reason} for row, reason in view.failures]


class ImportStartArgs(Schema):
    validRowsOnly = fields.Boolean(load_default=False, metadata={
        "description": "import the valid rows of a file with errors (without it, such a file is refused)"})


@blp.route("/imports", methods=["POST"])
@blp.doc(**UPLOAD_DOC)
@blp.response(201, ImportSchema)
@blp.alt_response(403, description=FORBIDDEN, schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(422, description="No file, an unknown kind, a file that is neither CSV nor XLSX, or one with no "
                  "known column; `errors.file` says which", schema=ProblemSchema, content_type=PROBLEM)
@command(runs_again=True)  # a preview stores nothing but itself: a retry previews again
def preview_import():
    """Check a file row by row: the counts and every error (row, column, reason). Nothing is imported until
    `POST /api/v1/imports/{import_id}/start`."""
    caller = actor()
    kind = request.form.get("kind", "")
    if kind not in tuple(ImportKind):
        raise InvalidInput("unknown import kind", {"kind": f"must be one of {', '.join(ImportKind)}"})
    require_kind(caller, kind)  # 403 before the file is read
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput("upload the file as multipart field 'file'", {"file": "is required"})
    try:
        return spreadsheet_imports().preview(kind, upload.read(), upload.filename or "upload", actor=caller,
                                             checker=checker_for(kind))
    except UnusableFile as exc:
        # the API's convention: a body the schema accepts but the engine cannot use is 422 (a file that is
        # not BPMN at /deployments alike); the pages answer 400
        raise InvalidInput(exc.message, exc.errors) from exc


@blp.route("/imports/<int(max=2147483647):import_id>/start", methods=["POST"])
@blp.arguments(ImportStartArgs, required=False)
@blp.response(202, ImportSchema)
@blp.alt_response(403, description=FORBIDDEN, schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(404, description="No such import", schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(409, description="The import was discarded", schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(422, description="The file has errors and validRowsOnly is not true, or no valid row",
                  schema=ProblemSchema, content_type=PROBLEM)
@command(runs_again=True)  # starting an import already started changes nothing
def start_import(args: dict, import_id: int):
    """Queue the import of the previewed rows; the background sweep imports them in rounds. Read the progress at
    `GET /api/v1/imports/{import_id}`."""
    valid_rows_only = bool((args or {}).get("validRowsOnly"))
    return spreadsheet_imports().start_import(import_id, actor=actor(), valid_rows_only=valid_rows_only)


@blp.route("/imports/<int(max=2147483647):import_id>", methods=["GET"])
@blp.response(200, ImportSchema)
@blp.alt_response(403, description=FORBIDDEN, schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(404, description="No such import", schema=ProblemSchema, content_type=PROBLEM)
def get_import(import_id: int):
    """An import's counts, errors and progress (done, failed, percent)."""
    return spreadsheet_imports().get_import(import_id, actor=actor())
