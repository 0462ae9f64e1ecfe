"""User-task commands: complete (state checked, values coerced by form), claim, unclaim, assign."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.attachments import Upload, store_uploads
from orchestrator.authorization import Permission, can_act_on_task, can_see_task, require
from orchestrator.definitions import ParsedProcess
from orchestrator.engine import CommandContext, CommandGroup, EngineCore
from orchestrator.errors import Conflict, Forbidden, InvalidInput, NotFound
from orchestrator.forms import FormValidationError, coerce_form
from orchestrator.instance_rows import lock_instance
from orchestrator.models import HumanTask, HumanTaskState, ProcessInstance

# a page's reader of its submission: the task's form fields -> (values, uploads)
FormReader = Callable[[list[dict[str, Any]]], tuple[dict[str, Any], dict[str, list[Upload]]]]


@dataclass(frozen=True)
class TaskOutcome:
    """A task command's result as its caller shows it: the task row and its case as they were committed,
    so no caller reads them back in a second transaction."""

    task: HumanTask
    instance: ProcessInstance
    model: ParsedProcess  # the deployed process (names, forms), so the caller needs no read to show it

    @property
    def definition_key(self) -> str:
        return self.model.key


class UserTasks(CommandGroup):
    def _visible_task(self, session: Session, task_id: str, actor: Actor) -> HumanTask:
        """The task, or NotFound when it does not exist or the actor may not see it."""
        row = session.get(HumanTask, task_id)
        started_by = session.scalar(select(ProcessInstance.started_by).where(
            ProcessInstance.id == row.instance_id)) if row is not None else None
        if row is None or not can_see_task(actor, row, row.candidate_groups, started_by):
            raise NotFound(f"task '{task_id}' does not exist")
        return row

    def _task_under_lock(self, session: Session, task_id: str, actor: Actor) -> HumanTask:
        """The task, read once after its instance is locked (so its state and assignee are current), or
        NotFound when it does not exist or the actor may not see it."""
        instance = lock_instance(session, task_id, of=HumanTask)
        row = session.get(HumanTask, task_id) if instance is not None else None
        if row is None or not can_see_task(actor, row, row.candidate_groups, instance.started_by):
            raise NotFound(f"task '{task_id}' does not exist")
        return row

    def complete_user_task(self, task_id: str, values: dict[str, Any] | None = None, *, actor: Actor,
                           uploads: dict[str, list[Upload]] | None = None,
                           read_form: FormReader | None = None) -> TaskOutcome:
        """Complete a READY task with form values (and files for its file fields); a second or
        concurrent completion gets Conflict. ``read_form(fields)`` instead of ``values``/``uploads`` lets a
        page read its submission by the task's form inside this one command."""
        require(actor, Permission.WORK_TASKS)
        with self.core.db.transaction() as session:
            row = self._task_under_lock(session, task_id, actor)
            with self.core.command(row.instance_id, actor, session=session) as ctx:
                _check_open(row, actor)
                task = ctx.find_task(task_id)
                if task is None or task.state != TaskState.READY:
                    raise Conflict(f"task '{task_id}' is not waiting for completion")
                if read_form is not None:
                    values, uploads = read_form(row.form or [])
                clean = checked_values(self.core, session, row.form, values, uploads, actor, row.instance_id, task_id,
                                       f"task '{row.element_id}'", current=task.data)
                task.set_data(**clean)
                task.run()
                row.state = HumanTaskState.COMPLETED
                row.completed_at = ctx.now
                row.completed_by = actor.name
                ctx.record("task_completed", element_id=row.element_id, task_id=task_id, values=clean)
                ctx.run_engine()
        return TaskOutcome(row, ctx.instance, ctx.definition)

    def claim_task(self, task_id: str, *, actor: Actor) -> TaskOutcome:
        return self._set_assignee(task_id, actor, actor.name, "task_claimed")

    def unclaim_task(self, task_id: str, *, actor: Actor) -> TaskOutcome:
        return self._set_assignee(task_id, actor, None, "task_unclaimed")

    def assign_task(self, task_id: str, user: str, *, actor: Actor,
                    user_groups: frozenset[str] | None = None) -> TaskOutcome:
        """Hand a task to someone. With `user_groups` (the caller looked the person up) they must belong to
        one of the task's groups; only admins may take a task away from someone who holds it."""
        if not user or not isinstance(user, str):
            raise InvalidInput("assign needs a user", {"user": "is required"})
        return self._set_assignee(task_id, actor, user, "task_assigned", user_groups)

    def _set_assignee(self, task_id: str, actor: Actor, assignee: str | None, event: str,
                      assignee_groups: frozenset[str] | None = None) -> TaskOutcome:
        """Change who holds a task; serialized with other commands by the instance lock."""
        require(actor, Permission.WORK_TASKS)
        with self.core.db.transaction() as session:
            row = self._visible_task(session, task_id, actor)
            with self.core.command(row.instance_id, actor, session=session, statuses=None, restore=False) as ctx:
                session.refresh(row)  # re-read under the instance lock
                _change_assignee(ctx, row, assignee, event, assignee_groups)
                model = self.core.definitions.get(session, ctx.instance.definition_id)
        return TaskOutcome(row, ctx.instance, model)


def checked_values(core: EngineCore, session: Session, form: list[dict[str, Any]], values: dict[str, Any] | None,
                   uploads: dict[str, list[Upload]] | None, actor: Actor, instance_id: str,
                   task_id: str | None, where: str, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """Values typed by the form, files stored in this transaction; InvalidInput names every bad field.
    `current`: the case's variables as the task sees them, for requiredIf rules on fields of other forms."""
    values = dict(values or {})
    upload_errors: dict[str, str] = {}
    if uploads:
        references, upload_errors = store_uploads(
            session, instance_id=instance_id, task_id=task_id, fields=form, uploads=uploads,
            allowed_types=core.settings.attachment_types, max_bytes=core.settings.attachment_max_bytes,
            actor=actor, now=core.now())
        values.update(references)
    try:
        clean = coerce_form(form, values, now=core.now(), current=current)
    except FormValidationError as exc:
        raise InvalidInput(f"{where}: invalid form values", {**exc.errors, **upload_errors}) from exc
    if upload_errors:
        raise InvalidInput(f"{where}: invalid files", upload_errors)
    return clean


def _change_assignee(ctx: CommandContext, row: HumanTask, assignee: str | None, event: str,
                     assignee_groups: frozenset[str] | None) -> None:
    """Check the actor may hand the task over this way, then record who holds it now."""
    task_id, actor = row.id, ctx.actor
    if row.state != HumanTaskState.READY:
        raise Conflict(f"task '{task_id}' is {row.state}")
    if event == "task_claimed":
        _check_may_act(row, actor, ignore_assignee=True)
        if row.assignee and row.assignee != actor.name:
            raise Conflict(f"task '{task_id}' is claimed by {row.assignee}", assignee=row.assignee)
    elif event == "task_unclaimed":
        if row.assignee != actor.name:  # releasing one's own claim needs no group; anything else does
            _check_may_act(row, actor, ignore_assignee=True)
        if row.assignee and row.assignee != actor.name and not actor.roles & {"admin", "system"}:
            raise Conflict(f"task '{task_id}' is claimed by {row.assignee}", assignee=row.assignee)
    else:
        _check_may_act(row, actor, ignore_assignee=True)
        privileged = bool(actor.roles & {"admin", "system"})
        if row.assignee and row.assignee not in (actor.name, assignee) and not privileged:
            raise Conflict(f"task '{task_id}' is claimed by {row.assignee}", assignee=row.assignee)
        if assignee_groups is not None and not privileged and assignee not in (row.candidate_users or []) \
                and not assignee_groups & set(row.candidate_groups or []):
            raise InvalidInput("the person is not in the task's groups", {
                "user": f"{assignee} is not in {', '.join(row.candidate_groups or []) or 'any group'}"})
    previous = row.assignee
    row.assignee = assignee
    row.claimed_at = ctx.now if assignee else None
    ctx.record(event, row.element_id, row.id, assignee=assignee, previous=previous)


def _check_open(row: HumanTask, actor: Actor) -> None:
    """Authorization first (403), then the task's state (409)."""
    _check_may_act(row, actor, ignore_assignee=True)
    if row.state != HumanTaskState.READY:
        raise Conflict(f"task '{row.id}' is already {row.state}", state=row.state)
    if row.assignee and row.assignee != actor.name and not actor.roles & {"admin", "system"}:
        raise Conflict(f"task '{row.id}' is claimed by {row.assignee}", assignee=row.assignee)


def _check_may_act(row: HumanTask, actor: Actor, ignore_assignee: bool = False) -> None:
    if not can_act_on_task(actor, row, row.candidate_groups, ignore_assignee=ignore_assignee):
        raise Forbidden(f"{actor.name} may not work on task '{row.id}' (groups: {', '.join(row.candidate_groups)})")
