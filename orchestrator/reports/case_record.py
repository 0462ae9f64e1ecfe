"""What every printable report reads of its case, at one moment: the case, its model, its history, and who
did each step when with what they entered. Authorization is checked here, once per report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import defer

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, can, visible_instances_clause
from orchestrator.definitions import ParsedProcess
from orchestrator.errors import NotFound
from orchestrator.models import ProcessDefinition, ProcessInstance
from orchestrator.queries import case_history, case_jobs
from orchestrator.views import DefinitionView, HistoryEventView, InstanceView, JobView


class ReportNotApplicable(NotFound):
    """The report is not one of the case's process (an 8D report of a return, ...)."""


@dataclass(frozen=True)
class StepRecord:
    """One completion of a user task (or the case's start): who, when, in which groups, what they entered."""

    element_id: str
    actor: str
    at: datetime
    groups: tuple[str, ...] = ()
    values: tuple[tuple[str, Any], ...] = ()

    def value(self, name: str, default: Any = None) -> Any:
        return dict(self.values).get(name, default)


@dataclass(frozen=True)
class ReportCase:
    """The case a report is drawn from, read in one transaction."""

    instance: InstanceView
    definition: DefinitionView
    model: ParsedProcess
    history: tuple[HistoryEventView, ...]
    jobs: tuple[JobView, ...]
    generated_at: datetime
    generated_by: str

    @property
    def variables(self) -> dict[str, Any]:
        return self.instance.variables

    @property
    def reference(self) -> str:
        return self.instance.business_key or self.instance.id

    def start(self) -> StepRecord:
        """The case's start: who started it and the values it started with."""
        for event in self.history:
            if event.type == "instance_started":
                return StepRecord("__start__", event.actor, event.at, (),
                                  tuple((event.payload.get("variables") or {}).items()))
        return StepRecord("__start__", self.instance.started_by, self.instance.started_at)

    def steps(self, *element_ids: str) -> tuple[StepRecord, ...]:
        """Every completion of these user tasks, oldest first (a step done twice after a loop shows twice)."""
        return tuple(step for step in completions(self.history) if step.element_id in element_ids)

    def last_step(self, element_id: str) -> StepRecord | None:
        found = self.steps(element_id)
        return found[-1] if found else None

    def passed_at(self, element_id: str) -> tuple[datetime, ...]:
        """When the case passed an element (a service task, an event), each time."""
        return tuple(e.at for e in self.history if e.type == "element_completed" and e.element_id == element_id)

    def finished_jobs(self, element_id: str) -> tuple[JobView, ...]:
        return tuple(job for job in self.jobs if job.element_id == element_id and job.finished_at is not None)


def completions(history: Iterable[HistoryEventView]) -> list[StepRecord]:
    """task_completed events as step records, each with the candidate groups its task was created for."""
    groups: dict[str, tuple[str, ...]] = {}
    found = []
    for event in history:
        if event.type == "task_created" and event.task_id:
            groups[event.task_id] = tuple(event.payload.get("candidate_groups") or ())
        elif event.type == "task_completed" and event.element_id:
            found.append(StepRecord(event.element_id, event.actor, event.at, groups.get(event.task_id or "", ()),
                                    tuple((event.payload.get("values") or {}).items())))
    return found


def may_read_reports_of(actor: Actor) -> bool:
    """Readers of every case and holders of the report permission read any case's reports."""
    return can(actor, Permission.READ_ALL) or can(actor, Permission.READ_REPORTS)


def read_report_case(core, actor: Actor, instance_id: str, process_keys: tuple[str, ...]) -> ReportCase:
    """The case, if the actor may read it (READ_ALL, READ_REPORTS, or involved in it: started it or holds a
    task of it) and it is of one of `process_keys`; NotFound otherwise (hidden looks the same as missing)."""
    with core.db.reading() as session:
        query = (select(ProcessInstance, ProcessDefinition).options(defer(ProcessInstance.state))
                 .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                 .where(ProcessInstance.id == instance_id))
        if not may_read_reports_of(actor):
            query = query.where(visible_instances_clause(actor))
        row = session.execute(query).first()
        if row is None:
            raise NotFound(f"process instance '{instance_id}' does not exist")
        instance, definition = InstanceView.of(row[0]), DefinitionView.of(row[1])
        if definition.key not in process_keys:
            raise ReportNotApplicable(f"this report is for cases of {', '.join(process_keys)}, "
                                      f"not of {definition.key}")
        return ReportCase(instance=instance, definition=definition, model=core.definitions.get(session, definition.id),
                          history=tuple(case_history(session, instance_id)),
                          jobs=tuple(case_jobs(session, instance_id)), generated_at=core.now(),
                          generated_by=actor.name)
