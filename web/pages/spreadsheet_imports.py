"""Spreadsheet import pages: upload → preview (counts, the first rows as they will be imported, every error with
row, column and reason, an error report to download) → start (all rows, or only the valid ones of a file with
errors) → progress (the page reloads itself) → summary. Nothing is imported before someone starts it."""

from __future__ import annotations

import json

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from orchestrator.authorization import Permission, require
from orchestrator.errors import EngineError, Forbidden, NotFound
from orchestrator.import_kinds import (
    SALES_VOLUME_COLUMNS,
    TRACE_EVENT_ATTRIBUTES,
    TRACE_EVENT_COLUMNS,
    importable_fields,
    returns_start_rows,
    sales_volume_rows,
    trace_event_rows,
)
from orchestrator.import_models import ImportKind
from orchestrator.spreadsheet_files import Table, table_csv, table_xlsx
from orchestrator.spreadsheet_imports import ImportView, may_import, require_kind
from web.import_checkers import checker_for, spreadsheet_imports
from web.pages.common import engine, person, refusal, refused
from web.pages.file_responses import download, table_response

KIND_NAMES = {ImportKind.RETURNS: lazy_gettext("Returns (one case per row)"),
              ImportKind.TRACE_EVENTS: lazy_gettext("Trace events"),
              ImportKind.SALES_VOLUMES: lazy_gettext("Sales volumes")}
STATUS_NAMES = {"previewed": lazy_gettext("checked, not imported"), "queued": lazy_gettext("queued"),
                "running": lazy_gettext("importing"), "done": lazy_gettext("done"), "failed": lazy_gettext("failed"),
                "discarded": lazy_gettext("discarded")}
SHOWN_ERRORS = 200  # the page lists these; the error report has every listed one


def register_routes(bp) -> None:
    bp.add_url_rule("/imports", view_func=import_list, methods=["GET"])
    bp.add_url_rule("/imports", view_func=upload, methods=["POST"])
    bp.add_url_rule("/imports/<int(max=2147483647):import_id>", view_func=import_page, methods=["GET"])
    bp.add_url_rule("/imports/<int(max=2147483647):import_id>/start", view_func=start, methods=["POST"])
    bp.add_url_rule("/imports/<int(max=2147483647):import_id>/discard", view_func=discard, methods=["POST"])
    bp.add_url_rule("/imports/<int(max=2147483647):import_id>/errors.csv", view_func=error_report, methods=["GET"])
    bp.add_url_rule("/imports/<int(max=2147483647):import_id>/status", view_func=status, methods=["GET"])
    bp.add_url_rule("/imports/<any(returns, trace_events, sales_volumes):kind>/template.<any(csv, xlsx):file_format>",
                    view_func=template, methods=["GET"])
    bp.add_url_rule("/imports/<any(returns, trace_events, sales_volumes):kind>/data.<any(csv, xlsx):file_format>",
                    view_func=current_data, methods=["GET"])
    bp.app_context_processor(_import_words)


def _import_words():
    return {"import_kind_name": lambda kind: str(KIND_NAMES.get(kind, kind)),
            "import_status_name": lambda code: str(STATUS_NAMES.get(code, code))}


def _kinds() -> list[str]:
    return [kind for kind in ImportKind if may_import(person(), kind)]


def _not_allowed():
    return render_template("errors/message.html", heading=_("Spreadsheet imports"),
                           message=_("Your role does not allow importing spreadsheets; nothing was changed.")), 403


def import_list():
    """The upload form (the kinds I may import) and the latest imports."""
    kinds = _kinds()
    if not kinds:
        return _not_allowed()
    return render_template("spreadsheets/imports.html", kinds=kinds,
                           imports=spreadsheet_imports().list_imports(actor=person()), error=None)


def upload():
    """Read and check the file; show its preview (nothing is imported yet)."""
    kinds = _kinds()
    if not kinds:
        return _not_allowed()
    kind = request.form.get("kind", "")
    file = request.files.get("file")
    error = None
    if kind not in kinds:
        error = _("Choose what the file holds.")
    elif file is None or not file.filename:
        error = _("Choose a file (.xlsx or .csv).")
    if error is None:
        try:
            view = spreadsheet_imports().preview(kind, file.read(), file.filename, actor=person(),
                                                 checker=checker_for(kind))
        except Forbidden:
            return _not_allowed()
        except EngineError as exc:
            error = _("The file cannot be imported: %(reason)s", reason=exc.message)
        else:
            return redirect(url_for("spreadsheet_pages.import_page", import_id=view.id))
    return render_template("spreadsheets/imports.html", kinds=kinds, chosen=kind, error=error,
                           imports=spreadsheet_imports().list_imports(actor=person())), 400


def _view(import_id: int) -> ImportView:
    return spreadsheet_imports().get_import(import_id, actor=person())


def import_page(import_id: int):
    """The preview before the start; the progress while it runs (the page reloads itself); the summary after."""
    try:
        view = _view(import_id)
    except Forbidden:
        return _not_allowed()
    except NotFound:
        return render_template("errors/not_found.html", what=_("import %(id)s", id=import_id)), 404
    rows = spreadsheet_imports().sample_rows(import_id, actor=person()) if view.status == "previewed" else []
    # every column a value will be imported in (defaults too), by its label, in the kind's order
    shown = [column for column in view.column_labels if any(_cell(values, column) for _number, values in rows)]
    sample = [(number, [_cell(values, column) for column in shown]) for number, values in rows]
    return render_template("spreadsheets/import.html", view=view, sample=sample,
                           shown_columns=[view.column_labels[column] for column in shown],
                           errors=view.errors[:SHOWN_ERRORS], shown_errors=SHOWN_ERRORS)


_ATTRIBUTE_OF = {column: attribute for attribute, column in TRACE_EVENT_ATTRIBUTES.items()}


def _cell(values: dict, column: str) -> str:
    """A stored value as the preview shows it (trace events are stored by their attribute names)."""
    value = values.get(column, values.get(_ATTRIBUTE_OF.get(column, column)))
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False) if column != "epcs" else " ".join(map(str, value))
    return str(value)


def start(import_id: int):
    back = url_for("spreadsheet_pages.import_page", import_id=import_id)
    try:
        spreadsheet_imports().start_import(import_id, actor=person(),
                                           valid_rows_only=request.form.get("valid_rows_only") == "1")
    except Forbidden:
        return _not_allowed()
    except EngineError as exc:
        return refused(exc, back)
    flash(_("The import has started; it runs in the background."), "info")
    return redirect(back)


def discard(import_id: int):
    try:
        spreadsheet_imports().discard_import(import_id, actor=person())
    except Forbidden:
        return _not_allowed()
    except EngineError as exc:
        flash(refusal(exc), "error")
    else:
        flash(_("The file was discarded; nothing of it was imported."), "info")
    return redirect(url_for("spreadsheet_pages.import_list"))


def error_report(import_id: int):
    """Every listed error as CSV: row, column, reason (the rows to fix in the file)."""
    try:
        view = _view(import_id)
    except Forbidden:
        return _not_allowed()
    except NotFound:
        return render_template("errors/not_found.html", what=_("import %(id)s", id=import_id)), 404
    rows = [[row, column, reason] for row, column, reason in view.errors]
    rows += [[row, "", reason] for row, reason in view.failures]
    if view.error_count > len(view.errors):
        rows.append(["", "", _("%(count)s more errors are not listed: fix these first.",
                               count=view.error_count - len(view.errors))])
    table = Table(_("Errors"), [_("Row"), _("Column"), _("Reason")], rows)
    return download(table_csv(table, f"import-{import_id}-errors.csv"))


def status(import_id: int):
    """The import's progress as JSON, for a page or a script that polls."""
    try:
        view = _view(import_id)
    except Forbidden:
        return jsonify({"error": "forbidden"}), 403
    except NotFound:
        return jsonify({"error": "not found"}), 404
    return jsonify({"id": view.id, "status": view.status, "done": view.done, "failed": view.failed,
                    "valid_rows": view.valid_rows, "percent": view.percent, "finished": view.finished})


def _layout(kind: str) -> list[str]:
    if kind == ImportKind.RETURNS:
        _definition, form = engine().start_forms.start_form("returns")
        return [spec.get("label") or spec["id"] for spec in importable_fields(form)]
    return [column.label for column in (TRACE_EVENT_COLUMNS if kind == ImportKind.TRACE_EVENTS
                                        else SALES_VOLUME_COLUMNS)]


def template(kind: str, file_format: str):
    """An empty file with the kind's columns, to fill in and upload."""
    if not may_import(person(), kind):
        return _not_allowed()
    table = Table(str(KIND_NAMES[kind]), _layout(kind), [])
    maker = table_csv if file_format == "csv" else table_xlsx
    return download(maker(table, f"{kind}-template.{file_format}"))


def current_data(kind: str, file_format: str):
    """What is stored now, in the import's layout (a file that imports back into the same rows): the returns
    cases' start data, the trace events, the sales volumes. For those who may import the kind and read every case."""
    try:
        require_kind(person(), kind)
        require(person(), Permission.READ_ALL)  # every case's data, every event
    except Forbidden:
        return _not_allowed()
    with engine().db.reading() as session:
        if kind == ImportKind.RETURNS:
            _definition, form = engine().start_forms.start_form("returns")
            rows = returns_start_rows(session, form)
        elif kind == ImportKind.TRACE_EVENTS:
            rows = trace_event_rows(session)
        else:
            rows = sales_volume_rows(session)
    return table_response(Table(str(KIND_NAMES[kind]), _layout(kind), rows), kind.replace("_", "-"), file_format)
