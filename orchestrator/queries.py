"""Read-only queries, filtered by what the actor may see: nothing here locks or changes state.

Every query answers with frozen views (orchestrator/views.py), never with rows: a reader can neither
lazy-load through a result nor change one. Each query that reads a case takes the actor and answers
NotFound for a case the actor may not read (hidden looks the same as missing); operations-wide lists
need Permission.READ_OPERATIONS."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, func, select
from sqlalchemy.orm import Session, defer

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, can_see_task, require, visible_instances_clause
from orchestrator.definitions import ParsedProcess
from orchestrator.effects import waiting_timers
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import InvalidInput, NotFound
from orchestrator.history import verify_chain
from orchestrator.instances import latest_definition
from orchestrator.models import (
    MESSAGE_WAIT,
    SIGNAL_WAIT,
    DeploymentResource,
    HistoryEvent,
    HumanTask,
    HumanTaskState,
    Incident,
    Job,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
)
from orchestrator.query_filters import (
    INCIDENT_SORTS,
    INSTANCE_SORTS,
    JOB_SORTS,
    MAX_PAGE,
    TASK_SORTS,
    IncidentFilter,
    InstanceFilter,
    JobFilter,
    TaskFilter,
    incident_conditions,
    instance_conditions,
    job_conditions,
    sort_column,
    task_conditions,
)
from orchestrator.views import DefinitionView, HistoryEventView, IncidentView, InstanceView, JobView, TaskView


@dataclass(frozen=True)
class Page:
    items: tuple[Any, ...]  # views, or tuples of views
    total: int
    limit: int
    offset: int


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidInput("invalid page", {"limit": f"must be 1..{MAX_PAGE}", "offset": "must be ≥ 0"})


def _page(session: Session, query: Select, limit: int, offset: int, view: Callable[[Any], Any]) -> Page:
    check_page(limit, offset)
    # count the same FROM/WHERE without selecting columns: never materialize wide rows (instance state)
    total = session.scalar(query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None))
    items = tuple(view(row) for row in session.execute(query.limit(limit).offset(offset)).all())
    return Page(items, total, limit, offset)


def _case_pair(row: Sequence[Any]) -> tuple[InstanceView, DefinitionView]:
    return InstanceView.of(row[0]), DefinitionView.of(row[1])


def readable_instance(session: Session, actor: Actor, instance_id: str) -> tuple[InstanceView, DefinitionView]:
    """The case and its definition if the actor may read it; NotFound otherwise (hidden looks the same as
    missing). The one check every read of a case passes first."""
    query = (select(ProcessInstance, ProcessDefinition)
             .options(defer(ProcessInstance.state))
             .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
             .where(ProcessInstance.id == instance_id))
    clause = visible_instances_clause(actor)
    if clause is not None:
        query = query.where(clause)
    row = session.execute(query).first()
    if row is None:
        raise NotFound(f"process instance '{instance_id}' does not exist")
    return _case_pair(row)


# Reads of one case for a caller that has passed `readable_instance` in the same session.

def case_history(session: Session, instance_id: str) -> list[HistoryEventView]:
    return [HistoryEventView.of(row) for row in session.scalars(
        select(HistoryEvent).where(HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.seq))]


# A case's open tasks, oldest first, as plain rows (views need no ORM objects), each with the case's id: a case
# without open tasks gives one row without a task, a case the reader may not see (their condition is added per
# call) gives none. Built once.
_TASKS = HumanTask.__table__
_OPEN_TASKS_OF_CASE = (
    select(ProcessInstance.id.label("case_id"), *_TASKS.c)
    .outerjoin(_TASKS, and_(_TASKS.c.instance_id == ProcessInstance.id, _TASKS.c.state == HumanTaskState.READY))
    .where(ProcessInstance.id == bindparam("instance_id")).order_by(_TASKS.c.created_at))


def case_open_tasks(session: Session, instance_id: str) -> list[TaskView]:
    return [TaskView.of(row) for row in session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == HumanTaskState.READY)
        .order_by(HumanTask.created_at))]


def case_jobs(session: Session, instance_id: str, status: str | None = None) -> list[JobView]:
    query = select(Job).where(Job.instance_id == instance_id).order_by(Job.id)
    if status:
        query = query.where(Job.status == status)
    return [JobView.of(row) for row in session.scalars(query)]


def case_open_incidents(session: Session, instance_id: str | None, limit: int = 500) -> list[IncidentView]:
    query = select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.id).limit(limit)
    if instance_id is not None:
        query = query.where(Incident.instance_id == instance_id)
    return [IncidentView.of(row) for row in session.scalars(query)]


def case_message_waits(session: Session, instance_id: str) -> list[tuple[str, str]]:
    """(element id, message name) of each message the case waits for."""
    return case_waits(session, instance_id)[MESSAGE_WAIT]


def case_waits(session: Session, instance_id: str) -> dict[str, list[tuple[str, str]]]:
    """By kind (message, signal): (element id, name) of each message or signal the case waits for."""
    waits: dict[str, list[tuple[str, str]]] = {MESSAGE_WAIT: [], SIGNAL_WAIT: []}
    for row in session.scalars(select(MessageSubscription).where(MessageSubscription.instance_id == instance_id)
                               .order_by(MessageSubscription.id)):
        waits[row.kind].append((row.element_id, row.message_name))
    return waits


def case_timers(core: EngineCore, session: Session, instance_id: str) -> list[tuple[str, str | None, datetime]]:
    """(element id, name, due) of the case's pending timers, read from its workflow state."""
    definition_id, state = session.execute(select(ProcessInstance.definition_id, ProcessInstance.state)
                                           .where(ProcessInstance.id == instance_id)).one()
    parsed = core.definitions.get(session, definition_id)
    workflow = core.serializer.loads(state, parsed.spec, parsed.subprocess_specs, core.script_engine)
    return waiting_timers(workflow)


def deployed_diagram(core: EngineCore, session: Session, definition: DefinitionView) -> str:
    """The deployed BPMN file that holds this definition's process."""
    parsed = core.definitions.get(session, definition.id)
    return session.scalar(select(DeploymentResource.content).where(
        DeploymentResource.deployment_id == definition.deployment_id,
        DeploymentResource.name == parsed.source_file))


class Queries(CommandGroup):
    def process_model(self, definition_id: int) -> ParsedProcess:
        """The parsed model of a deployed definition (cached): forms, summary fields, labels. Models are no
        case data: every signed-in caller may read them."""
        with self.core.db.reading() as session:
            return self.core.definitions.get(session, definition_id)

    def list_definitions(self, key: str | None = None) -> list[DefinitionView]:
        """Every deployed version, newest first per key."""
        with self.core.db.reading() as session:
            query = select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())
            if key is not None:
                query = query.where(ProcessDefinition.key == key)
            return [DefinitionView.of(row) for row in session.scalars(query)]

    def definition_xml(self, key: str, version: int | None = None) -> str:
        """The BPMN file of the latest (or given) version, byte for byte as deployed."""
        with self.core.db.reading() as session:
            return deployed_diagram(self.core, session, DefinitionView.of(latest_definition(session, key, version)))

    def list_instances(self, actor: Actor, criteria: InstanceFilter) -> Page:
        """(instance, definition) views of the cases the actor may read, newest first unless sorted otherwise."""
        order = sort_column(INSTANCE_SORTS, criteria.sort)
        query = (select(ProcessInstance, ProcessDefinition)
                 .options(defer(ProcessInstance.state))
                 .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                 .order_by(order.desc() if criteria.descending else order, ProcessInstance.id))
        query = query.where(*instance_conditions(actor, criteria))
        with self.core.db.reading() as session:
            return _page(session, query, criteria.limit, criteria.offset, _case_pair)

    def instance_for(self, actor: Actor, instance_id: str) -> tuple[InstanceView, DefinitionView]:
        """One case the actor may read, with its definition; NotFound otherwise."""
        with self.core.db.reading() as session:
            return readable_instance(session, actor, instance_id)

    def waiting_timers_of(self, actor: Actor, instance_id: str) -> list[tuple[str, str | None, datetime]]:
        """The case's pending timers (element id, name, due), read from its workflow state."""
        with self.core.db.reading() as session:
            readable_instance(session, actor, instance_id)
            return case_timers(self.core, session, instance_id)

    def message_waits_of(self, actor: Actor, instance_id: str) -> list[tuple[str, str]]:
        """(element id, message name) of each message the case waits for."""
        with self.core.db.reading() as session:
            readable_instance(session, actor, instance_id)
            return case_message_waits(session, instance_id)

    def history_for(self, actor: Actor, instance_id: str) -> list[HistoryEventView]:
        """Every event of the case, oldest first."""
        with self.core.db.reading() as session:
            readable_instance(session, actor, instance_id)
            return case_history(session, instance_id)

    def verify_history(self, actor: Actor, instance_id: str) -> int | None:
        """The seq of the first tampered event of a case, or None when its chain is intact."""
        with self.core.db.reading() as session:
            readable_instance(session, actor, instance_id)
            return verify_chain(session, instance_id)

    def open_human_tasks_for(self, actor: Actor, instance_id: str) -> list[TaskView]:
        """The case's open tasks, oldest first, as its case page shows them to whoever may read the case
        (NotFound otherwise): one statement checks the reader and reads the tasks."""
        query, clause = _OPEN_TASKS_OF_CASE, visible_instances_clause(actor)
        if clause is not None:
            query = query.where(clause)
        with self.core.db.reading() as session:
            rows = session.execute(query, {"instance_id": instance_id}).all()
        if not rows:
            raise NotFound(f"process instance '{instance_id}' does not exist")
        return [TaskView.of(row) for row in rows if row.id is not None]

    def jobs_of(self, actor: Actor, instance_id: str, status: str | None = None) -> list[JobView]:
        """The case's service-task jobs (optionally of one status), as its case page shows them."""
        with self.core.db.reading() as session:
            readable_instance(session, actor, instance_id)
            return case_jobs(session, instance_id, status)

    def list_tasks(self, actor: Actor, criteria: TaskFilter) -> Page:
        """(task, instance, definition) views of the tasks visible to the actor.

        Filtering, counting and paging read only the narrow task rows (case conditions are sub-queries);
        the wide instance rows, which hold the workflow state, are joined for the page's rows alone."""
        order = TASK_SORTS.get(criteria.sort)
        if order is None:
            raise InvalidInput("invalid sort", {"sort": f"must be one of {', '.join(TASK_SORTS)}"})
        where = task_conditions(actor, criteria)
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
            items = tuple((TaskView.of(task), InstanceView.of(instance), DefinitionView.of(definition))
                          for task, instance, definition in session.execute(query))
            return Page(items, total, criteria.limit, criteria.offset)

    def count_tasks(self, actor: Actor, filters: dict[str, TaskFilter]) -> dict[str, int]:
        """How many visible tasks each filter matches, in one pass over the task rows (inbox counters)."""
        if not filters:
            return {}
        names = list(filters)
        columns = [func.coalesce(func.sum(case((task_conditions(actor, filters[n]), 1), else_=0)), 0)
                   for n in names]
        with self.core.db.reading() as session:
            row = session.execute(select(*columns).select_from(HumanTask)).one()
        return dict(zip(names, (int(v) for v in row), strict=True))

    def task_for(self, actor: Actor, task_id: str) -> tuple[TaskView, InstanceView, DefinitionView]:
        """One task the actor may see, with its case; NotFound otherwise."""
        with self.core.db.reading() as session:
            task = session.get(HumanTask, task_id)
            instance = session.get(ProcessInstance, task.instance_id,
                                   options=[defer(ProcessInstance.state)]) if task is not None else None
            if instance is None or not can_see_task(actor, task, task.candidate_groups, instance.started_by):
                raise NotFound(f"task '{task_id}' does not exist")
            definition = session.get(ProcessDefinition, instance.definition_id)
            return TaskView.of(task), InstanceView.of(instance), DefinitionView.of(definition)

    def open_task_kinds(self, actor: Actor, criteria: TaskFilter | None = None) -> list[tuple[str, str | None]]:
        """(element id, name) of the kinds of open task the actor sees (of those `criteria` match), for the
        inbox's task filter."""
        query = (select(HumanTask.element_id, func.max(HumanTask.name))
                 .where(task_conditions(actor, criteria or TaskFilter()))
                 .group_by(HumanTask.element_id).order_by(func.max(HumanTask.name)))
        with self.core.db.reading() as session:
            return [(element_id, name) for element_id, name in session.execute(query)]

    def list_jobs(self, actor: Actor, status: str | None, limit: int = 50, offset: int = 0) -> Page:
        """Every case's jobs, newest first: for operators (Permission.READ_OPERATIONS)."""
        return self.find_jobs(actor, JobFilter(status=status, limit=limit, offset=offset))

    def find_jobs(self, actor: Actor, criteria: JobFilter) -> Page:
        """Every case's jobs, filtered, sorted and paged: for operators (Permission.READ_OPERATIONS)."""
        require(actor, Permission.READ_OPERATIONS)
        order = sort_column(JOB_SORTS, criteria.sort)
        query = (select(Job).where(*job_conditions(criteria))
                 .order_by(order.desc() if criteria.descending else order, Job.id.desc()))
        with self.core.db.reading() as session:
            return _page(session, query, criteria.limit, criteria.offset, lambda row: JobView.of(row[0]))

    def list_incidents(self, actor: Actor, open_only: bool = True, limit: int = 50, offset: int = 0) -> Page:
        """Every case's incidents, newest first: for operators (Permission.READ_OPERATIONS)."""
        return self.find_incidents(actor, IncidentFilter(open_only=open_only, limit=limit, offset=offset))

    def find_incidents(self, actor: Actor, criteria: IncidentFilter) -> Page:
        """Every case's incidents, filtered, sorted and paged: for operators (Permission.READ_OPERATIONS)."""
        require(actor, Permission.READ_OPERATIONS)
        order = sort_column(INCIDENT_SORTS, criteria.sort)
        query = (select(Incident).where(*incident_conditions(criteria))
                 .order_by(order.desc() if criteria.descending else order, Incident.id.desc()))
        with self.core.db.reading() as session:
            return _page(session, query, criteria.limit, criteria.offset, lambda row: IncidentView.of(row[0]))

    def definitions_of_cases(self, actor: Actor, instance_ids: Iterable[str]) -> dict[str, int]:
        """Each listed case's definition id, so an operator's list names each row's step from its model
        (Permission.READ_OPERATIONS); one query for a whole page."""
        require(actor, Permission.READ_OPERATIONS)
        ids = sorted(set(instance_ids))
        if not ids:
            return {}
        with self.core.db.reading() as session:
            rows = session.execute(select(ProcessInstance.id, ProcessInstance.definition_id)
                                   .where(ProcessInstance.id.in_(ids))).all()
        return {instance_id: definition_id for instance_id, definition_id in rows}

    def open_incidents(self, actor: Actor, instance_id: str | None = None, limit: int = 500) -> list[IncidentView]:
        """Unresolved incidents, oldest first, of every case or of one: for operators
        (Permission.READ_OPERATIONS)."""
        require(actor, Permission.READ_OPERATIONS)
        with self.core.db.reading() as session:
            return case_open_incidents(session, instance_id, limit)
