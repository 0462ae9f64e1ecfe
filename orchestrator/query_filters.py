"""What a list asks for: the instance and task filters and the WHERE clauses they become (visibility included)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, and_, literal_column, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from orchestrator.actors import Actor
from orchestrator.authorization import visible_tasks_clause
from orchestrator.errors import InvalidInput
from orchestrator.instances import VARIABLE_NAME
from orchestrator.models import (
    CaseSearch,
    HumanTask,
    HumanTaskGroup,
    HumanTaskState,
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
    limit: int = 50
    offset: int = 0


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
    ]
    return and_(true(), *[c for c in conditions if c is not None])
