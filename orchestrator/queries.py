"""Read-only queries, filtered by what the actor may see: nothing here locks or changes state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, and_, case, func, literal_column, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import defer
from sqlalchemy.sql.functions import FunctionElement

from orchestrator.actors import Actor
from orchestrator.authorization import (
    Permission,
    can_see_task,
    require,
    visible_instances_clause,
    visible_tasks_clause,
)
from orchestrator.definitions import ParsedProcess
from orchestrator.effects import waiting_timers
from orchestrator.engine import CommandGroup
from orchestrator.errors import InvalidInput, NotFound
from orchestrator.history import verify_chain
from orchestrator.instances import VARIABLE_NAME, latest_definition
from orchestrator.models import (
    CaseSearch,
    DeploymentResource,
    HistoryEvent,
    HumanTask,
    HumanTaskGroup,
    HumanTaskState,
    Incident,
    Job,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
)

MAX_PAGE = 200


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    limit: int
    offset: int


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


def _variable_clause(variable: str | None, equals: str | None, contains: str | None):
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


def _task_conditions(actor: Actor, criteria: TaskFilter):
    """One WHERE clause on human_task rows for the actor's visibility and the filter."""
    mine = HumanTask.assignee == actor.name
    groups = HumanTask.id.in_(select(HumanTaskGroup.task_id).where(
        HumanTaskGroup.group_name.in_(sorted(actor.groups))))
    cases = [
        ProcessInstance.business_key == criteria.business_key if criteria.business_key else None,
        ProcessInstance.definition_id.in_(select(ProcessDefinition.id).where(
            ProcessDefinition.key == criteria.definition_key)) if criteria.definition_key else None,
        _variable_clause(criteria.variable, criteria.equals, criteria.contains),
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


def _page(session, query: Select, limit: int, offset: int) -> Page:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidInput("invalid page", {"limit": f"must be 1..{MAX_PAGE}", "offset": "must be ≥ 0"})
    # count the same FROM/WHERE without selecting columns: never materialize wide rows (instance state)
    total = session.scalar(query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None))
    items = list(session.execute(query.limit(limit).offset(offset)).all())
    return Page(items, total, limit, offset)


class Queries(CommandGroup):
    def process_model(self, definition_id: int) -> ParsedProcess:
        """The parsed model of a deployed definition (cached): forms, summary fields, labels."""
        with self.core.db.reading() as session:
            return self.core.definitions.get(session, definition_id)

    def list_definitions(self, key: str | None = None) -> list[ProcessDefinition]:
        """Every deployed version, newest first per key."""
        with self.core.db.reading() as session:
            query = select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())
            if key is not None:
                query = query.where(ProcessDefinition.key == key)
            return list(session.scalars(query))

    def definition_xml(self, key: str, version: int | None = None) -> str:
        with self.core.db.reading() as session:
            definition = latest_definition(session, key, version)
            parsed = self.core.definitions.get(session, definition.id)
            return session.scalar(select(DeploymentResource.content).where(
                DeploymentResource.deployment_id == definition.deployment_id,
                DeploymentResource.name == parsed.source_file))

    def list_instances(self, actor: Actor, criteria: InstanceFilter) -> Page:
        """Rows of (instance, definition) the actor may read, newest first."""
        query = (select(ProcessInstance, ProcessDefinition)
                 .options(defer(ProcessInstance.state))
                 .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                 .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id))
        conditions = [
            visible_instances_clause(actor),
            ProcessDefinition.key == criteria.definition_key if criteria.definition_key else None,
            ProcessInstance.status == criteria.status if criteria.status else None,
            ProcessInstance.business_key == criteria.business_key if criteria.business_key else None,
            ProcessInstance.started_at >= criteria.started_after if criteria.started_after else None,
            ProcessInstance.started_at < criteria.started_before if criteria.started_before else None,
            _variable_clause(criteria.variable, criteria.equals, criteria.contains),
        ]
        query = query.where(*[c for c in conditions if c is not None])
        with self.core.db.reading() as session:
            return _page(session, query, criteria.limit, criteria.offset)

    def instance_for(self, actor: Actor, instance_id: str) -> tuple[ProcessInstance, ProcessDefinition]:
        """One instance the actor may read; NotFound otherwise (hidden looks the same as missing)."""
        query = (select(ProcessInstance, ProcessDefinition)
                 .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                 .where(ProcessInstance.id == instance_id))
        clause = visible_instances_clause(actor)
        if clause is not None:
            query = query.where(clause)
        with self.core.db.reading() as session:
            row = session.execute(query).first()
        if row is None:
            raise NotFound(f"process instance '{instance_id}' does not exist")
        return row[0], row[1]

    def waiting_timers_of(self, actor: Actor, instance_id: str) -> list[tuple[str, str | None, datetime]]:
        """The case's pending timers (element id, name, due), read from its workflow state."""
        instance, _definition = self.instance_for(actor, instance_id)
        with self.core.db.reading() as session:
            parsed = self.core.definitions.get(session, instance.definition_id)
            state = session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance_id))
        workflow = self.core.serializer.loads(state, parsed.spec, parsed.subprocess_specs, self.core.script_engine)
        return waiting_timers(workflow)

    def message_waits_of(self, instance_id: str) -> list[tuple[str, str]]:
        """(element id, message name) of each message the instance waits for."""
        with self.core.db.reading() as session:
            return [(row.element_id, row.message_name) for row in session.scalars(
                select(MessageSubscription).where(MessageSubscription.instance_id == instance_id)
                .order_by(MessageSubscription.id))]

    def history_for(self, actor: Actor, instance_id: str) -> list[HistoryEvent]:
        self.instance_for(actor, instance_id)
        return self.history_of(instance_id)

    def list_tasks(self, actor: Actor, criteria: TaskFilter) -> Page:
        """Rows of (task, instance, definition) visible to the actor.

        Filtering, counting and paging read only the narrow task rows (case conditions are sub-queries);
        the wide instance rows, which hold the workflow state, are joined for the page's rows alone."""
        order = TASK_SORTS.get(criteria.sort)
        if order is None:
            raise InvalidInput("invalid sort", {"sort": f"must be one of {', '.join(TASK_SORTS)}"})
        where = _task_conditions(actor, criteria)
        if not 1 <= criteria.limit <= MAX_PAGE or criteria.offset < 0:
            raise InvalidInput("invalid page", {"limit": f"must be 1..{MAX_PAGE}", "offset": "must be ≥ 0"})
        ordering = (order.desc() if criteria.descending else order, HumanTask.id)
        page_ids = (select(HumanTask.id).where(where).order_by(*ordering)
                    .limit(criteria.limit).offset(criteria.offset).subquery())
        query = (select(HumanTask, ProcessInstance, ProcessDefinition)
                 .options(defer(ProcessInstance.state))  # lists never need the workflow state
                 .join(page_ids, page_ids.c.id == HumanTask.id)
                 .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                 .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                 .order_by(*ordering))
        with self.core.db.reading() as session:
            total = session.scalar(select(func.count()).select_from(HumanTask).where(where))
            return Page(list(session.execute(query).all()), total, criteria.limit, criteria.offset)

    def count_tasks(self, actor: Actor, filters: dict[str, TaskFilter]) -> dict[str, int]:
        """How many visible tasks each filter matches, in one pass over the task rows (inbox counters)."""
        if not filters:
            return {}
        names = list(filters)
        columns = [func.coalesce(func.sum(case((_task_conditions(actor, filters[n]), 1), else_=0)), 0)
                   for n in names]
        with self.core.db.reading() as session:
            row = session.execute(select(*columns).select_from(HumanTask)).one()
        return dict(zip(names, (int(v) for v in row), strict=True))

    def task_for(self, actor: Actor, task_id: str) -> tuple[HumanTask, ProcessInstance, ProcessDefinition]:
        with self.core.db.reading() as session:
            task = session.get(HumanTask, task_id)
            instance = session.get(ProcessInstance, task.instance_id) if task is not None else None
            if instance is None or not can_see_task(actor, task, task.candidate_groups, instance.started_by):
                raise NotFound(f"task '{task_id}' does not exist")
            return task, instance, session.get(ProcessDefinition, instance.definition_id)

    def get_instance(self, instance_id: str) -> ProcessInstance:
        with self.core.db.reading() as session:
            row = session.get(ProcessInstance, instance_id)
            if row is None:
                raise NotFound(f"process instance '{instance_id}' does not exist")
            return row

    def open_human_tasks_for(self, instance_id: str) -> list[HumanTask]:
        with self.core.db.reading() as session:
            return list(session.scalars(
                select(HumanTask)
                .where(HumanTask.instance_id == instance_id, HumanTask.state == HumanTaskState.READY)
                .order_by(HumanTask.created_at)
            ))

    def jobs_of(self, instance_id: str | None = None, status: str | None = None, limit: int = 500) -> list[Job]:
        with self.core.db.reading() as session:
            query = select(Job).order_by(Job.id).limit(limit)
            if instance_id:
                query = query.where(Job.instance_id == instance_id)
            if status:
                query = query.where(Job.status == status)
            return list(session.scalars(query))

    def list_jobs(self, actor: Actor, status: str | None, limit: int = 50, offset: int = 0) -> Page:
        require(actor, Permission.READ_OPERATIONS)
        query = select(Job).order_by(Job.id.desc())
        if status:
            query = query.where(Job.status == status)
        with self.core.db.reading() as session:
            return _page(session, query, limit, offset)

    def list_incidents(self, actor: Actor, open_only: bool = True, limit: int = 50, offset: int = 0) -> Page:
        require(actor, Permission.READ_OPERATIONS)
        query = select(Incident).order_by(Incident.id.desc())
        if open_only:
            query = query.where(Incident.resolved_at.is_(None))
        with self.core.db.reading() as session:
            return _page(session, query, limit, offset)

    def open_incidents(self, limit: int = 500, instance_id: str | None = None) -> list[Incident]:
        query = select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.id).limit(limit)
        if instance_id is not None:
            query = query.where(Incident.instance_id == instance_id)
        with self.core.db.reading() as session:
            return list(session.scalars(query))

    def open_task_kinds(self, actor: Actor) -> list[tuple[str, str | None]]:
        """(element id, name) of the kinds of open task the actor sees, for the inbox's task filter."""
        query = (select(HumanTask.element_id, func.max(HumanTask.name))
                 .where(_task_conditions(actor, TaskFilter()))
                 .group_by(HumanTask.element_id).order_by(func.max(HumanTask.name)))
        with self.core.db.reading() as session:
            return [(element_id, name) for element_id, name in session.execute(query)]

    def history_of(self, instance_id: str) -> list[HistoryEvent]:
        with self.core.db.reading() as session:
            return list(session.scalars(
                select(HistoryEvent).where(HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.seq)
            ))

    def verify_history(self, instance_id: str) -> int | None:
        """The seq of the first tampered event of an instance, or None when its chain is intact."""
        with self.core.db.reading() as session:
            return verify_chain(session, instance_id)
