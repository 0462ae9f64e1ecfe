"""Who may do what: enforced by the commands themselves, whatever door the request came through.

Every write needs a permission: the auditor role grants only reading, so an auditor changes nothing
however it arrives (API, pages, groups it happens to be in). Integration keys read only the cases they
started, and the tasks in them, whatever groups the key has."""

from __future__ import annotations

import enum

from sqlalchemy import and_, or_, select

from orchestrator.actors import Actor
from orchestrator.errors import Forbidden
from orchestrator.models import HumanTask, HumanTaskGroup, ProcessInstance


class Permission(enum.StrEnum):
    DEPLOY = "deploy models"
    START = "start process instances"
    CORRELATE = "send messages"
    MANAGE_INSTANCES = "cancel, suspend or resume instances"
    READ_ALL = "read every instance and task"
    READ_OPERATIONS = "read jobs and incidents"
    RETRY_INCIDENTS = "retry incidents"
    ADMINISTER = "manage users and API keys"
    RECORD_TRACE = "record traceability events"
    WORK_TASKS = "claim, assign, release or complete tasks"
    COMMENT = "comment on cases"
    READ_REPORTS = "read dashboards and reports"


ROLES: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "system": frozenset(Permission),
    "process_owner": frozenset({
        Permission.DEPLOY, Permission.START, Permission.CORRELATE, Permission.MANAGE_INSTANCES,
        Permission.READ_ALL, Permission.READ_OPERATIONS, Permission.RETRY_INCIDENTS, Permission.RECORD_TRACE,
        Permission.WORK_TASKS, Permission.COMMENT, Permission.READ_REPORTS,
    }),
    "auditor": frozenset({Permission.READ_ALL, Permission.READ_OPERATIONS, Permission.READ_REPORTS}),
    # management: the figures of every process and the cases behind them; works its own tasks
    "manager": frozenset({Permission.READ_REPORTS, Permission.READ_ALL, Permission.START, Permission.WORK_TASKS,
                          Permission.COMMENT}),
    "integration": frozenset({Permission.START, Permission.CORRELATE, Permission.RECORD_TRACE, Permission.WORK_TASKS}),
    "staff": frozenset({Permission.START, Permission.WORK_TASKS, Permission.COMMENT}),
}
KNOWN_ROLES = tuple(sorted(set(ROLES) - {"system"}))


def permissions(actor: Actor) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in actor.roles:
        granted |= ROLES.get(role, frozenset())
    return frozenset(granted)


def can(actor: Actor, permission: Permission) -> bool:
    return permission in permissions(actor)


def require(actor: Actor, permission: Permission) -> None:
    """Raise Forbidden unless one of the actor's roles grants the permission."""
    if not can(actor, permission):
        raise Forbidden(f"{actor.name} may not {permission.value}", permission=permission.name)


def reads_own_cases_only(actor: Actor) -> bool:
    """Integration keys see the cases they started, never others' through a group they share."""
    return "integration" in actor.roles and not can(actor, Permission.READ_ALL)


def can_act_on_task(actor: Actor, task: HumanTask, groups: list[str], *, ignore_assignee: bool = False) -> bool:
    """Assigned to me, or open to one of my groups or to me by name; admins may act on anything; roles that
    may not work on tasks (auditor) act on none."""
    if not can(actor, Permission.WORK_TASKS):
        return False
    if actor.roles & {"admin", "system"}:
        return True
    if task.assignee and not ignore_assignee:
        return task.assignee == actor.name
    return _open_to(actor, task, groups)


def can_see_task(actor: Actor, task: HumanTask, groups: list[str], case_started_by: str | None) -> bool:
    """Readers of everything, the assignee, whoever completed it and members of its groups (for integration
    keys: only in the cases they started)."""
    if can(actor, Permission.READ_ALL):
        return True
    if reads_own_cases_only(actor) and case_started_by != actor.name:
        return False
    return actor.name in (task.assignee, task.completed_by) or _open_to(actor, task, groups)


def _open_to(actor: Actor, task: HumanTask, groups: list[str]) -> bool:
    """The task's groups or named candidates include the actor (whether or not the role may work on it)."""
    if not groups and not task.candidate_users:
        return Permission.START in permissions(actor) and "integration" not in actor.roles
    return bool(actor.groups & set(groups)) or actor.name in (task.candidate_users or [])


def visible_tasks_clause(actor: Actor):
    """SQL condition: tasks this actor may see (used for lists, so hidden tasks are never counted)."""
    if can(actor, Permission.READ_ALL):
        return None
    in_my_groups = HumanTask.id.in_(
        select(HumanTaskGroup.task_id).where(HumanTaskGroup.group_name.in_(sorted(actor.groups)))
    ) if actor.groups else None
    clauses = [HumanTask.assignee == actor.name, HumanTask.completed_by == actor.name]
    if in_my_groups is not None:
        clauses.append(in_my_groups)
    if reads_own_cases_only(actor):
        return and_(or_(*clauses), HumanTask.instance_id.in_(_started_by(actor)))
    return or_(*clauses)


def visible_instances_clause(actor: Actor):
    """SQL condition: instances this actor may read — started by them or holding a task they may see."""
    if can(actor, Permission.READ_ALL):
        return None
    if reads_own_cases_only(actor):
        return ProcessInstance.started_by == actor.name
    task_clause = visible_tasks_clause(actor)
    return or_(ProcessInstance.started_by == actor.name,
               ProcessInstance.id.in_(select(HumanTask.instance_id).where(task_clause)))


def _started_by(actor: Actor):
    return select(ProcessInstance.id).where(ProcessInstance.started_by == actor.name)
