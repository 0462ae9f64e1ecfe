"""The task page (its generated form above the case's context) and the start forms of the "New" menu."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from orchestrator.authorization import Permission, can, can_act_on_task
from orchestrator.errors import EngineError, InvalidInput, NotFound
from orchestrator.forms import date_limits
from orchestrator.models import JobStatus
from web.auth.models import Group, User
from web.extensions import db
from web.model_texts import in_reader_language, process_title
from web.pages.case_data import case_data, task_facts
from web.pages.common import engine, person, refusal, refused, signed_in_pages
from web.pages.form_input import submitted_files, submitted_values
from web.pages.inbox import sla_state

bp = Blueprint("task_pages", __name__)
# after completing, how many one-second looks the waiting page takes for my next task of the case
NEXT_TASK_LOOKS = 10
signed_in_pages(bp)


def colleagues(groups: list[str]) -> list[str]:
    """People of the task's groups, who it may be assigned to."""
    if not groups:
        return []
    users = db.session.scalars(select(User).join(User.groups).where(Group.name.in_(groups), User.active.is_(True))
                               .order_by(User.email).distinct())
    return [user.actor_name for user in users]


def _render_task(task_id: str, errors: dict[str, str] | None = None, entered: dict[str, Any] | None = None,
                 status: int = 200):
    actor = person()
    task, instance, definition = engine().queries.task_for(actor, task_id)
    values = dict(instance.variables or {})
    values.update(entered or {})
    model = in_reader_language(engine().queries.process_model(definition.id))
    history = engine().queries.history_for(actor, instance.id)
    return render_template(
        "tasks/task.html", task=task, instance=instance, definition=definition, form=model.form(task.form),
        task_name=model.step_name(task.element_id, task.name), task_help=model.documentation(task.element_id),
        process_name=model.title,
        values=values, errors=errors or {}, context=case_data(model, instance, history),
        facts=task_facts(model, task.element_id, instance.variables or {}, history),
        sla=sla_state(task.due_at, engine().now()), colleagues=colleagues(task.candidate_groups or []),
        may_act=can_act_on_task(actor, task, task.candidate_groups or []),
        comments=engine().comments.comments_of(actor, instance.id), date_limits=date_limits(engine().now()),
    ), status


@bp.get("/tasks/<string:task_id>")
def task_page(task_id: str):
    try:
        return _render_task(task_id)
    except NotFound:
        return render_template("errors/not_found.html", what=_("task")), 404


@bp.post("/tasks/<string:task_id>")
def complete(task_id: str):
    """Complete with the submitted form; on bad values show the form again with the input kept."""
    entered: dict[str, Any] = {}

    def read_form(form: list[dict[str, Any]]):
        entered.update(submitted_values(form, request))
        return entered, submitted_files(form, request)

    try:  # one engine call: the submission is read by the task's form inside the completing command
        done = engine().tasks.complete_user_task(task_id, actor=person(), read_form=read_form)
    except NotFound:
        return render_template("errors/not_found.html", what=_("task")), 404
    except InvalidInput as exc:
        return _render_task(task_id, errors=exc.errors or {"_form": exc.message}, entered=entered, status=422)
    except EngineError as exc:  # already completed, claimed by another, the case moved on; or a role that may not
        return refused(exc, url_for("inbox.inbox"))
    shown = in_reader_language(done.model).step_name(done.task.element_id, done.task.name)  # no second read
    flash(_("“%(name)s” completed.", name=shown or done.task.element_id), "info")
    if request.form.get("after") == "next":
        return _to_my_next_task(done.instance.id, otherwise=url_for("inbox.inbox"))
    return redirect(url_for("inbox.inbox"))


def _to_my_next_task(instance_id: str, otherwise: str, looks: int = 0):
    """My first open task of the case, else a page that looks again (the browser reloads it, the request
    never waits) while service steps before it still run, else ``otherwise``."""
    actor = person()
    try:
        tasks = engine().queries.open_human_tasks_for(actor, instance_id)
        jobs = engine().queries.jobs_of(actor, instance_id)
    except NotFound:  # a case the person may not read says nothing
        return redirect(otherwise)
    for task in tasks:
        if can_act_on_task(actor, task, task.candidate_groups or []):
            return redirect(url_for("task_pages.task_page", task_id=task.id))
    busy = any(job.status in (JobStatus.PENDING, JobStatus.RUNNING) for job in jobs)
    if busy and looks < NEXT_TASK_LOOKS:
        again = url_for("task_pages.next_task", instance_id=instance_id, looks=looks + 1, otherwise=otherwise)
        return render_template("tasks/next.html", again=again, otherwise=otherwise)
    return redirect(otherwise)


@bp.get("/cases/<string:instance_id>/next-task")
def next_task(instance_id: str):
    """Where the waiting page reloads to: my next task once the service steps before it have run."""
    otherwise = request.args.get("otherwise", "")
    if not otherwise.startswith("/") or otherwise.startswith("//"):  # only our own pages
        otherwise = url_for("inbox.inbox")
    try:
        engine().queries.instance_for(person(), instance_id)  # a case the person may not read says nothing
    except NotFound:
        return render_template("errors/not_found.html", what=_("case")), 404
    return _to_my_next_task(instance_id, otherwise, looks=request.args.get("looks", 0, type=int))


def _shown_form(definition, form: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The start form with its labels, help texts and option names in the reader's language."""
    return in_reader_language(engine().queries.process_model(definition.id)).form(form)


def _start_form_page(definition, form: list[dict[str, Any]], values: dict[str, Any], errors: dict[str, str]) -> str:
    """The start form in the reader's language with what was typed, the errors, and today's date limits."""
    return render_template("tasks/start.html", definition=definition, form=_shown_form(definition, form),
                           values=values, errors=errors, date_limits=date_limits(engine().now()))


def _chosen_version() -> int | None:
    """The version asked for (?version= or the form's hidden field: a process owner starting an older version
    from the Processes page); None starts the latest."""
    version = request.values.get("version", type=int)
    return version if version and version > 0 else None


def _start_form_of(key: str, version: int | None):
    """The latest (or chosen) version and its start form; NotFound when it has none."""
    if version is None:
        return engine().start_forms.start_form(key)
    definition, form = engine().start_forms.start_fields(key, version)
    if not form:
        raise NotFound(f"process '{key}' version {version} has no start form")
    return definition, form


@bp.get("/new/<string:key>")
def start_page(key: str):
    if not can(person(), Permission.START):
        abort(403)
    try:
        definition, form = _start_form_of(key, _chosen_version())
    except NotFound:
        return render_template("errors/not_found.html", what=_("process")), 404
    defaults = {f["id"]: f.get("default") for f in form if f.get("default") is not None}
    return _start_form_page(definition, form, defaults, {})


@bp.post("/new/<string:key>")
def start(key: str):
    """Start a case from the start form; then straight to my first task of it, or to the case page."""
    actor = person()
    if not can(actor, Permission.START):
        abort(403)
    version = _chosen_version()
    try:
        definition, form = _start_form_of(key, version)
    except NotFound:
        return render_template("errors/not_found.html", what=_("process")), 404
    values = submitted_values(form, request)
    try:
        instance = engine().start_forms.start_from_form(key, values, actor=actor, version=version,
                                                        uploads=submitted_files(form, request),
                                                        idempotency_key=request.form.get("submission_id") or None)
    except InvalidInput as exc:
        errors = {name.removeprefix("variables."): problem for name, problem in (exc.errors or {}).items()}
        return _start_form_page(definition, form, values, errors or {"_form": exc.message}), 422
    except EngineError as exc:
        return _start_form_page(definition, form, values, {"_form": refusal(exc)}), exc.status
    flash(_("%(process)s %(key)s started.", process=process_title(definition), key=instance.business_key or ""), "info")
    return _to_my_next_task(instance.id, otherwise=url_for("case_pages.instance_page", instance_id=instance.id))
