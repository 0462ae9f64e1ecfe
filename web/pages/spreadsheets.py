"""Spreadsheets: CSV and XLSX exports of the lists, and imports of returns, trace events and sales volumes.

Each export holds what its list shows the reader, with the list's filters (the same query string): the engine's
queries apply the reader's rights. A CSV is streamed page by page (no whole list in memory); an XLSX is built in
a write-only workbook. Imports are in web/pages/spreadsheet_imports.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from orchestrator.authorization import Permission, can
from orchestrator.errors import Forbidden, NotFound
from orchestrator.query_filters import (
    INCIDENT_SORTS,
    INSTANCE_SORTS,
    JOB_SORTS,
    MAX_PAGE,
    IncidentFilter,
    InstanceFilter,
    JobFilter,
)
from orchestrator.spreadsheet_files import Table
from web.model_texts import in_reader_language, step_name
from web.pages.common import engine, person, signed_in_pages
from web.pages.file_responses import table_response
from web.pages.heatmap import process_titles, reports_refused
from web.pages.inbox import FILTER_KEYS, case_models, summary_of, task_filter
from web.pages.labels import group_names, label
from web.pages.list_args import day_range, list_args
from web.pages.spreadsheet_imports import register_routes

bp = Blueprint("spreadsheet_pages", __name__)
signed_in_pages(bp)
register_routes(bp)  # the import pages

MAX_EXPORT_ROWS = 100_000  # an export stops here (the file's last row says so)


def paged(fetch: Callable[[int, int], Sequence[Any]], page_size: int = MAX_PAGE) -> Iterator[Any]:
    """Every item of a paged query, a page at a time, a little past MAX_EXPORT_ROWS (`_capped` says so)."""
    offset = 0
    while offset <= MAX_EXPORT_ROWS:
        items = fetch(page_size, offset)
        yield from items
        if len(items) < page_size:
            return
        offset += page_size


def _capped(rows: Iterator[Sequence[Any]], width: int) -> Iterator[Sequence[Any]]:
    for number, row in enumerate(rows, start=1):
        if number > MAX_EXPORT_ROWS:
            yield [_("Only the first %(count)s rows are exported: narrow the filter.", count=MAX_EXPORT_ROWS)] + \
                [""] * (width - 1)
            return
        yield row


def _summary_text(model, variables: dict[str, Any]) -> str:
    return "; ".join(f"{name}: {value}" for name, value in summary_of(model, variables or {}))


# -- the case list ---------------------------------------------------------------------------------------------
@bp.get("/cases.<any(csv, xlsx):file_format>")
def export_cases(file_format: str):
    """The case list as a file, with the list's filters and sort (every page, not only the one shown)."""
    args = list_args("process", "status", "from", "to", "q")
    after, before = day_range(args)
    sort = args.get("sort") if args.get("sort") in INSTANCE_SORTS else "started"
    descending = args.get("order", "desc") == "desc" if "sort" in args else True
    actor, models = person(), case_models()

    def fetch(limit: int, offset: int):
        criteria = InstanceFilter(definition_key=args.get("process"), status=args.get("status"), text=args.get("q"),
                                  started_after=after, started_before=before, sort=sort, descending=descending,
                                  limit=limit, offset=offset)
        return engine().queries.list_instances(actor, criteria).items

    def rows():
        for instance, definition in paged(fetch):
            model = models.models.get(definition.id)
            yield [instance.id, instance.business_key, model.title if model else definition.key, definition.version,
                   label("status", instance.status), instance.started_at, instance.started_by, instance.ended_at,
                   _summary_text(model, instance.variables) if model else ""]

    columns = [_("Case id"), _("Business key"), _("Process"), _("Version"), _("Status"), _("Started"),
               _("Started by"), _("Ended"), _("Key data")]
    table = Table(_("Cases"), columns, _capped(rows(), len(columns)), _notes(args))
    return table_response(table, "cases", file_format, (38, 18, 24, 8, 12, 28, 18, 28, 60))


def _notes(args: dict[str, str]) -> list[tuple[str, str]]:
    return [(_("Exported by"), person().name), (_("Exported at"), engine().now().isoformat()),
            *[(name, value) for name, value in args.items()]]


# -- the task list (the inbox) ---------------------------------------------------------------------------------
@bp.get("/tasks.<any(csv, xlsx):file_format>")
def export_tasks(file_format: str):
    """The inbox as a file: the tasks I may work on, with the inbox's filters (view, process, task, group, due,
    text, sort)."""
    args = {key: request.args.get(key, "").strip() for key in FILTER_KEYS if request.args.get(key, "").strip()}
    actor, models = person(), case_models()

    def fetch(limit: int, offset: int):
        return engine().queries.list_tasks(actor, task_filter(args, limit=limit, offset=offset)).items

    def rows():
        for task, instance, definition in paged(fetch):
            model = models.models.get(definition.id)
            step = (model.step_name(task.element_id, task.name) if model else None) or task.name or task.element_id
            yield [task.id, step, instance.business_key or instance.id, model.title if model else definition.key,
                   task.assignee, group_names(task.candidate_groups), task.created_at, task.due_at, task.priority,
                   _summary_text(model, instance.variables) if model else ""]

    columns = [_("Task id"), _("Task"), _("Case"), _("Process"), _("Assignee"), _("Groups"), _("Created"), _("Due"),
               _("Priority"), _("Key data")]
    table = Table(_("Tasks"), columns, _capped(rows(), len(columns)), _notes(args))
    return table_response(table, "tasks", file_format, (38, 28, 20, 24, 18, 24, 28, 28, 8, 60))


# -- a case's history -------------------------------------------------------------------------------------------
@bp.get("/instances/<string:instance_id>/history.<any(csv, xlsx):file_format>")
def export_history(instance_id: str, file_format: str):
    """The case's timeline as a file: one row per event, its values as JSON."""
    try:
        case = engine().case_views.case_view(person(), instance_id)
    except NotFound:
        return render_template("errors/not_found.html", what=_("case")), 404
    model = in_reader_language(case.model)

    def rows():
        for event in case.history:
            if event.type == "state_recorded":
                continue
            step = model.step_name(event.element_id, (event.payload or {}).get("name")) if event.element_id else ""
            yield [event.at, label("event", event.type), step or event.element_id or "", event.actor,
                   json.dumps(event.payload or {}, ensure_ascii=False, sort_keys=True, default=str)]

    columns = [_("At"), _("Event"), _("Step"), _("By"), _("Details")]
    notes = [(_("Case"), case.instance.business_key or case.instance.id), (_("Process"), model.title),
             (_("Status"), label("status", case.instance.status))]
    stem = f"history-{case.instance.business_key or case.instance.id}"
    return table_response(Table(_("History"), columns, rows(), notes), _safe_stem(stem), file_format,
                          (30, 24, 28, 18, 80))


def _safe_stem(stem: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in stem)[:100]



# -- the operations lists ---------------------------------------------------------------------------------------
def _operations_criteria(args: dict[str, str], sorts: dict) -> tuple[datetime | None, datetime | None, str, bool]:
    after, before = day_range(args)
    sort = args.get("sort") if args.get("sort") in sorts else "created"
    return after, before, sort, args.get("order", "desc") == "desc"


@bp.get("/operations/jobs.<any(csv, xlsx):file_format>")
def export_jobs(file_format: str):
    """The service jobs list as a file, with its filters (for operators: READ_OPERATIONS)."""
    actor = person()
    if not can(actor, Permission.READ_OPERATIONS):
        return _operations_refused()
    args = list_args("status", "topic", "process", "from", "to", "q")
    after, before, sort, descending = _operations_criteria(args, JOB_SORTS)

    def fetch(limit: int, offset: int):
        return engine().queries.find_jobs(actor, JobFilter(
            status=args.get("status"), topic=args.get("topic"), definition_key=args.get("process"),
            created_after=after, created_before=before, text=args.get("q"), sort=sort, descending=descending,
            limit=limit, offset=offset)).items

    def rows():
        for job in paged(fetch):
            yield [job.id, job.instance_id, job.element_id, job.topic, job.status, job.attempts, job.created_at,
                   job.next_attempt_at, job.finished_at, job.last_error]

    columns = [_("Job"), _("Case id"), _("Step"), _("Topic"), _("Status"), _("Attempts"), _("Created"),
               _("Next attempt"), _("Finished"), _("Last error")]
    table = Table(_("Service jobs"), columns, _capped(rows(), len(columns)), _notes(args))
    return table_response(table, "jobs", file_format, (8, 38, 24, 20, 12, 8, 28, 28, 28, 60))


@bp.get("/operations/incidents.<any(csv, xlsx):file_format>")
def export_incidents(file_format: str):
    """The incidents list as a file (open ones, or all with state=all), with its filters."""
    actor = person()
    if not can(actor, Permission.READ_OPERATIONS):
        return _operations_refused()
    args = list_args("state", "process", "from", "to", "q")
    after, before, sort, descending = _operations_criteria(args, INCIDENT_SORTS)

    def fetch(limit: int, offset: int):
        return engine().queries.find_incidents(actor, IncidentFilter(
            open_only=args.get("state") != "all", definition_key=args.get("process"), created_after=after,
            created_before=before, text=args.get("q"), sort=sort, descending=descending, limit=limit,
            offset=offset)).items

    def rows():
        for incident in paged(fetch):
            yield [incident.id, incident.instance_id, incident.element_id, incident.message, incident.created_at,
                   incident.resolved_at, incident.resolved_by]

    columns = [_("Incident"), _("Case id"), _("Step"), _("Message"), _("Created"), _("Resolved"), _("Resolved by")]
    table = Table(_("Incidents"), columns, _capped(rows(), len(columns)), _notes(args))
    return table_response(table, "incidents", file_format, (8, 38, 24, 60, 28, 28, 18))


# -- the tasks at risk (a dashboard's list) ---------------------------------------------------------------------
@bp.get("/dashboards/at-risk.<any(csv, xlsx):file_format>")
def export_at_risk(file_format: str):
    """The tasks at risk as a file: every one, soonest due first (for readers of reports)."""
    try:
        forecasts = engine().heatmaps.all_at_risk(person())
    except Forbidden:
        return reports_refused()
    titles = process_titles()

    def rows():
        for f in forecasts:
            yield [titles.get(f.process_key, f.process_key), f.business_key or f.instance_id,
                   step_name(f.definition_id, f.element_id, f.name), f.assignee, group_names(f.candidate_groups),
                   f.created_at, f.due_at, f.predicted_at, _("overdue") if f.overdue else _("Likely late")]

    columns = [_("Process"), _("Case"), _("Task"), _("Assignee"), _("Groups"), _("Created"), _("Due"),
               _("Predicted finish"), _("State")]
    table = Table(_("Tasks at risk"), columns, _capped(rows(), len(columns)), _notes({}))
    return table_response(table, "tasks-at-risk", file_format, (24, 20, 28, 18, 24, 28, 28, 28, 14))


def _operations_refused():
    return render_template("errors/message.html", heading=_("Operations"),
                           message=_("Your role does not allow reading jobs and incidents.")), 403
