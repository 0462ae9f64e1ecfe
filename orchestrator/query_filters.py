"""What a list asks for: the instance and task filters and the WHERE clauses they become (visibility included)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, and_, cast, false, literal_column, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, can, visible_instances_clause, visible_tasks_clause
from orchestrator.errors import InvalidInput
from orchestrator.instances import VARIABLE_NAME
from orchestrator.models import (
    CaseSearch,
    HumanTask,
    HumanTaskGroup,
    HumanTaskState,
    Incident,
    Job,
    ProcessDefinition,
    ProcessInstance,
)

MAX_PAGE = 200


@dataclass(frozen=True)
class InstanceFilter:
    definition_key: str | None = None
    status: str | None = None
    business_key: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    variable: str | None = None
    equals: str | None = None
    contains: str | None = None
    # free text matched (contains, any case) against the business key and the case's summary fields
    text: str | None = None
    sort: str = "started"
    descending: bool = True
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class JobFilter:
    """Every case's service jobs, for operators."""

    status: str | None = None
    topic: str | None = None
    definition_key: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    text: str | None = None  # in the step, the topic or the last error
    sort: str = "created"
    descending: bool = True
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class IncidentFilter:
    """Every case's incidents, for operators."""

    open_only: bool = True
    definition_key: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    text: str | None = None  # in the step or the message
    sort: str = "created"
    descending: bool = True
    limit: int = 50
    offset: int = 0


INSTANCE_SORTS = {"started": ProcessInstance.started_at, "ended": ProcessInstance.ended_at,
                  "status": ProcessInstance.status, "key": ProcessInstance.business_key,
                  "process": ProcessDefinition.key, "by": ProcessInstance.started_by}
JOB_SORTS = {"created": Job.created_at, "status": Job.status, "topic": Job.topic, "step": Job.element_id,
             "attempts": Job.attempts, "next": Job.next_attempt_at}
INCIDENT_SORTS = {"created": Incident.created_at, "step": Incident.element_id, "resolved": Incident.resolved_at}


def sort_column(sorts: dict, name: str):
    """The column a list is sorted by; InvalidInput naming the choices for an unknown one."""
    if name not in sorts:
        raise InvalidInput("invalid sort", {"sort": f"must be one of {', '.join(sorts)}"})
    return sorts[name]


def _of_process(column, definition_key: str | None):
    """Rows of cases of one process (by key, any version)."""
    if not definition_key:
        return None
    return column.in_(select(ProcessInstance.id).where(ProcessInstance.definition_id.in_(
        select(ProcessDefinition.id).where(ProcessDefinition.key == definition_key))))


def job_conditions(criteria: JobFilter) -> list:
    text = criteria.text.strip() if criteria.text else None
    conditions = [
        Job.status == criteria.status if criteria.status else None,
        Job.topic == criteria.topic if criteria.topic else None,
        _of_process(Job.instance_id, criteria.definition_key),
        Job.created_at >= criteria.created_after if criteria.created_after else None,
        Job.created_at < criteria.created_before if criteria.created_before else None,
        or_(Job.element_id.icontains(text, autoescape=True), Job.topic.icontains(text, autoescape=True),
            Job.last_error.icontains(text, autoescape=True), Job.instance_id.in_(select(CaseSearch.instance_id).where(
                CaseSearch.text.contains(text.lower(), autoescape=True)))) if text else None,
    ]
    return [c for c in conditions if c is not None]


def instance_conditions(actor: Actor, criteria: InstanceFilter) -> list:
    """The case list's filter, within what the actor may read (the query joins ProcessDefinition)."""
    conditions = [
        visible_instances_clause(actor),
        ProcessDefinition.key == criteria.definition_key if criteria.definition_key else None,
        ProcessInstance.status == criteria.status if criteria.status else None,
        ProcessInstance.business_key == criteria.business_key if criteria.business_key else None,
        ProcessInstance.started_at >= criteria.started_after if criteria.started_after else None,
        ProcessInstance.started_at < criteria.started_before if criteria.started_before else None,
        variable_clause(criteria.variable, criteria.equals, criteria.contains),
        instance_text_clause(criteria.text),
    ]
    return [c for c in conditions if c is not None]


def incident_conditions(criteria: IncidentFilter) -> list:
    text = criteria.text.strip() if criteria.text else None
    conditions = [
        Incident.resolved_at.is_(None) if criteria.open_only else None,
        _of_process(Incident.instance_id, criteria.definition_key),
        Incident.created_at >= criteria.created_after if criteria.created_after else None,
        Incident.created_at < criteria.created_before if criteria.created_before else None,
        or_(Incident.element_id.icontains(text, autoescape=True), Incident.message.icontains(text, autoescape=True),
            Incident.instance_id.in_(select(CaseSearch.instance_id).where(
                CaseSearch.text.contains(text.lower(), autoescape=True)))) if text else None,
    ]
    return [c for c in conditions if c is not None]


def instance_text_clause(text: str | None):
    if not text or not text.strip():
        return None
    return ProcessInstance.id.in_(select(CaseSearch.instance_id).where(
        CaseSearch.text.contains(text.strip().lower(), autoescape=True)))


@dataclass(frozen=True)
class TaskFilter:
    assigned_to_me: bool = False
    my_groups: bool = False
    unassigned: bool = False
    group: str | None = None
    instance_id: str | None = None
    business_key: str | None = None
    definition_key: str | None = None
    variable: str | None = None
    equals: str | None = None
    contains: str | None = None
    due_before: datetime | None = None
    element_id: str | None = None
    # free text matched (contains, any case) against the business key and the case's summary fields
    text: str | None = None
    state: str = HumanTaskState.READY
    # only tasks the actor may act on (claim, complete): an inbox, not a reader's list of everything visible
    actionable: bool = False
    sort: str = "created"
    descending: bool = False
    limit: int = 50
    offset: int = 0


TASK_SORTS = {"created": HumanTask.created_at, "due": HumanTask.due_at, "priority": HumanTask.priority,
              "name": HumanTask.name}


def variable_clause(variable: str | None, equals: str | None, contains: str | None):
    if variable is None:
        if equals is not None or contains is not None:
            raise InvalidInput("name the variable to filter on", {"variable": "is required with equals/contains"})
        return None
    if not VARIABLE_NAME.match(variable):
        raise InvalidInput("invalid variable name", {"variable": "letters, digits and _, starting with a letter"})
    value = JsonScalarText(ProcessInstance.variables, variable)
    if equals is not None:
        return value == equals
    if contains is not None:
        return value.icontains(contains, autoescape=True)
    return value.is_not(None)


class JsonScalarText(FunctionElement):
    """A top-level JSON value as text, the same on every database: true → 'true', 7000 → '7000'.

    (SQLite's json_extract gives 1 for true, so a plain cast would differ from PostgreSQL.)"""

    type = String()
    inherit_cache = True

    def __init__(self, column, key: str):
        super().__init__(column, literal_column(f"'$.\"{key}\"'"), literal_column(f"'{key}'"))


@compiles(JsonScalarText, "sqlite")
def _json_scalar_text_sqlite(element, compiler, **kw):
    column, path, _key = (compiler.process(c, **kw) for c in element.clauses)
    return (f"(CASE json_type({column}, {path}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"ELSE CAST(json_extract({column}, {path}) AS TEXT) END)")


@compiles(JsonScalarText)
def _json_scalar_text(element, compiler, **kw):
    column, _path, key = (compiler.process(c, **kw) for c in element.clauses)
    return f"(({column})::json ->> {key})"


def task_conditions(actor: Actor, criteria: TaskFilter):
    """One WHERE clause on human_task rows for the actor's visibility and the filter."""
    mine = HumanTask.assignee == actor.name
    groups = HumanTask.id.in_(select(HumanTaskGroup.task_id).where(
        HumanTaskGroup.group_name.in_(sorted(actor.groups))))
    cases = [
        ProcessInstance.business_key == criteria.business_key if criteria.business_key else None,
        ProcessInstance.definition_id.in_(select(ProcessDefinition.id).where(
            ProcessDefinition.key == criteria.definition_key)) if criteria.definition_key else None,
        variable_clause(criteria.variable, criteria.equals, criteria.contains),
    ]
    cases = [c for c in cases if c is not None]
    conditions = [
        visible_tasks_clause(actor),
        HumanTask.state == criteria.state if criteria.state else None,
        mine if criteria.assigned_to_me else None,
        groups if criteria.my_groups else None,
        HumanTask.assignee.is_(None) if criteria.unassigned else None,
        HumanTask.id.in_(select(HumanTaskGroup.task_id).where(HumanTaskGroup.group_name == criteria.group))
        if criteria.group else None,
        HumanTask.instance_id == criteria.instance_id if criteria.instance_id else None,
        HumanTask.instance_id.in_(select(ProcessInstance.id).where(*cases)) if cases else None,
        HumanTask.due_at < criteria.due_before if criteria.due_before else None,
        HumanTask.element_id == criteria.element_id if criteria.element_id else None,
        HumanTask.instance_id.in_(select(CaseSearch.instance_id).where(
            CaseSearch.text.contains(criteria.text.lower(), autoescape=True))) if criteria.text else None,
        actionable_clause(actor) if criteria.actionable else None,
    ]
    return and_(true(), *[c for c in conditions if c is not None])


def actionable_clause(actor: Actor):
    """SQL condition: tasks the actor may act on, as authorization.can_act_on_task decides for one task —
    none for roles that work no tasks (auditors), every one for admins, else assigned to them or unassigned
    and open to one of their groups or to them by name."""
    if not can(actor, Permission.WORK_TASKS):
        return false()
    if actor.roles & {"admin", "system"}:
        return None
    open_to = [HumanTask.id.in_(select(HumanTaskGroup.task_id).where(
        HumanTaskGroup.group_name.in_(sorted(actor.groups))))] if actor.groups else []
    open_to.append(cast(HumanTask.candidate_users, String).contains(json.dumps(actor.name), autoescape=True))
    if can(actor, Permission.START) and "integration" not in actor.roles:
        open_to.append(~HumanTask.id.in_(select(HumanTaskGroup.task_id))
                       & or_(HumanTask.candidate_users.is_(None),
                             cast(HumanTask.candidate_users, String).in_(["[]", "null"])))
    return or_(HumanTask.assignee == actor.name, and_(HumanTask.assignee.is_(None), or_(*open_to)))
