"""The staff inbox: the tasks I may work on, filtered, sorted and paged; claim / unclaim; saved filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_security import current_user
from sqlalchemy import select

from orchestrator.definitions import ParsedProcess
from orchestrator.errors import EngineError
from orchestrator.query_filters import TASK_SORTS, TaskFilter
from orchestrator.views import TaskView
from web.auth.users import groups_of
from web.extensions import db
from web.model_texts import in_reader_language
from web.pages.common import engine, page_count, person, refused, safe_next, signed_in_pages
from web.pages.common import page_number as current_page
from web.pages.models import SavedFilter

bp = Blueprint("inbox", __name__)
signed_in_pages(bp)

PAGE_SIZE = 25
DUE_SOON = timedelta(hours=8)
FILTER_KEYS = ("view", "process", "task", "group", "due", "q", "sort", "order")
VIEWS = ("all", "mine", "groups", "unassigned")


@dataclass(frozen=True)
class CaseModels:
    """The parsed model of every deployed definition (summary fields, labels) and process names, in the
    reader's language."""

    models: dict[int, ParsedProcess]
    names: dict[str, str]


def case_models() -> CaseModels:
    models, names = {}, {}
    for definition in engine().queries.list_definitions():
        models[definition.id] = in_reader_language(engine().queries.process_model(definition.id))
        names.setdefault(definition.key, models[definition.id].title)
    return CaseModels(models, names)


def summary_of(model: ParsedProcess, variables: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, shown value) of the case's summary fields that have a value."""
    labels = model.field_labels
    return [(labels.get(name, name), model.display_value(name, variables[name])) for name in model.summary_fields
            if variables.get(name) not in (None, "")]


def sla_state(due_at, now) -> str | None:
    """on_time / due_soon / overdue, for the badge next to a due date."""
    if due_at is None:
        return None
    if due_at <= now:
        return "overdue"
    return "due_soon" if due_at - now <= DUE_SOON else "on_time"


def task_filter(args: dict[str, str], *, limit: int = PAGE_SIZE, offset: int = 0) -> TaskFilter:
    """The engine query for the inbox's query-string filters."""
    view = args.get("view") if args.get("view") in VIEWS else "all"
    now = engine().now()
    due_before = {"overdue": now, "soon": now + DUE_SOON}.get(args.get("due", ""))
    sort = args.get("sort") if args.get("sort") in TASK_SORTS else "due"
    return TaskFilter(
        assigned_to_me=view == "mine", my_groups=view == "groups", unassigned=view == "unassigned",
        group=args.get("group") or None, definition_key=args.get("process") or None,
        element_id=args.get("task") or None, due_before=due_before,
        text=(args.get("q") or "").strip() or None, actionable=True,
        sort=sort, descending=args.get("order") == "desc", limit=limit, offset=offset,
    )


def _clean_args(source) -> dict[str, str]:
    return {key: source.get(key, "").strip() for key in FILTER_KEYS if source.get(key, "").strip()}


def _counts(filters: dict[str, dict[str, str]]) -> dict[str, int]:
    """Counters of the sidebar, all in one query."""
    return engine().queries.count_tasks(person(), {name: task_filter(args) for name, args in filters.items()})


def _row(task: TaskView, instance, definition, models: CaseModels, now) -> dict[str, Any]:
    summary = summary_of(models.models[definition.id], instance.variables or {})
    model = models.models[definition.id]
    return {"task": task, "instance": instance, "process": model.title,
            "task_name": model.step_name(task.element_id, task.name) or task.element_id,
            "summary": summary, "sla": sla_state(task.due_at, now)}


@bp.get("/")
def home():
    return redirect(url_for("inbox.inbox"))


@bp.get("/inbox")
def inbox():
    """My work: tasks of my groups and assigned to me, with the case's key data and the SLA."""
    models = case_models()
    args = _clean_args(request.args)
    page_number = current_page()
    try:
        page = engine().queries.list_tasks(person(), task_filter(args, offset=(page_number - 1) * PAGE_SIZE))
    except EngineError as exc:
        flash(exc.message, "error")
        return redirect(url_for("inbox.inbox"))
    now = engine().now()
    likely_late = engine().heatmaps.likely_late([row[0].id for row in page.items], now)
    saved = db.session.scalars(select(SavedFilter).where(SavedFilter.user_id == current_user.id)
                               .order_by(SavedFilter.name)).all()
    counted = {f"view:{view}": {"view": view} for view in VIEWS}
    counted["overdue"] = {"due": "overdue"}
    counted.update({f"saved:{f.id}": _clean_args(_parse_query(f.query)) for f in saved})
    counts = _counts(counted)
    views = [(view, counts.get(f"view:{view}")) for view in VIEWS]
    overdue = counts.get("overdue")
    saved_counts = [(f, counts.get(f"saved:{f.id}")) for f in saved]
    return render_template(
        "inbox/list.html", rows=[_row(*row, models, now) for row in page.items], page=page,
        page_number=page_number, pages=page_count(page.total, PAGE_SIZE), args=args,
        views=views, overdue=overdue, saved=saved_counts, likely_late=likely_late, processes=models.names,
        groups=sorted(person().groups), sorts=list(TASK_SORTS), query=urlencode(args),
        task_kinds=_task_kind_names(engine().queries.open_task_kinds(person(), TaskFilter(actionable=True)), models),
    )


def _task_kind_names(kinds: list[tuple[str, str | None]], models: CaseModels) -> list[tuple[str, str | None]]:
    """The task filter's (element id, name) pairs with each name in the reader's language."""
    return [(element_id, next((shown for model in models.models.values()
                               if (shown := model.step_name(element_id)) not in (None, name)), name))
            for element_id, name in kinds]


def _parse_query(query: str) -> dict[str, str]:
    return dict(parse_qsl(query))


@bp.post("/inbox/filters")
def save_filter():
    """Save the current filter under a name (replacing one of the same name)."""
    name = (request.form.get("name") or "").strip()
    args = _clean_args(request.form)
    if not name or len(name) > 80:
        flash(_("Give the filter a name of at most 80 characters."), "error")
        return redirect(url_for("inbox.inbox", **args))
    existing = db.session.scalar(select(SavedFilter).where(SavedFilter.user_id == current_user.id,
                                                           SavedFilter.name == name))
    if existing is None:
        db.session.add(SavedFilter(user_id=current_user.id, name=name, query=urlencode(args),
                                   created_at=engine().now()))
    else:
        existing.query = urlencode(args)
    db.session.commit()
    flash(_("Filter “%(name)s” saved.", name=name), "info")
    return redirect(url_for("inbox.inbox", **args))


@bp.post("/inbox/filters/<int:filter_id>/delete")
def delete_filter(filter_id: int):
    saved = db.session.get(SavedFilter, filter_id)
    if saved is not None and saved.user_id == current_user.id:
        db.session.delete(saved)
        db.session.commit()
    return redirect(url_for("inbox.inbox"))


@bp.post("/tasks/<string:task_id>/claim")
def claim(task_id: str):
    return _assignee_change(task_id, lambda: engine().tasks.claim_task(task_id, actor=person()), _("Task claimed."))


@bp.post("/tasks/<string:task_id>/unclaim")
def unclaim(task_id: str):
    return _assignee_change(task_id, lambda: engine().tasks.unclaim_task(task_id, actor=person()), _("Task released."))


@bp.post("/tasks/<string:task_id>/assign")
def assign(task_id: str):
    user = (request.form.get("user") or "").strip()
    user_groups = groups_of(db.session, user) if user else None
    if user_groups is None:
        flash(_("There is no active person named %(user)s.", user=user), "error")
        return redirect(safe_next(request.form.get("next"), url_for("inbox.inbox")))
    return _assignee_change(task_id, lambda: engine().tasks.assign_task(task_id, user, actor=person(),
                                                                  user_groups=user_groups),
                            _("Task assigned to %(user)s.", user=user))


def _assignee_change(task_id: str, command, done: str):
    back = safe_next(request.form.get("next"), url_for("inbox.inbox"))
    try:
        command()
    except EngineError as exc:
        return refused(exc, back)
    flash(done, "info")
    return redirect(back)
