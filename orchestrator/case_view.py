"""Everything a person sees about one case, read once: the case page's single engine call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.actors import Actor
from orchestrator.attachments import Attachments
from orchestrator.comments import COMMENT_EVENT
from orchestrator.definitions import ParsedProcess
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.models import (
    Attachment,
    HistoryEvent,
    HumanTask,
    Incident,
    InstanceStatus,
    Job,
    JobStatus,
    ProcessDefinition,
    ProcessInstance,
)
from orchestrator.queries import Queries


@dataclass(frozen=True)
class CaseView:
    instance: ProcessInstance
    definition: ProcessDefinition
    model: ParsedProcess
    diagram_xml: str
    history: list[HistoryEvent]
    open_tasks: list[HumanTask]
    jobs: list[Job]
    incidents: list[Incident]
    timers: list[tuple[str, str | None, datetime]]  # element id, name, due
    message_waits: list[tuple[str, str]]  # element id, message name
    attachments: list[Attachment]
    first_altered_event: int | None  # seq of the first event whose hash does not chain; None = intact

    @property
    def comments(self) -> list[HistoryEvent]:
        return [event for event in self.history if event.type == COMMENT_EVENT]

    @property
    def passed_elements(self) -> list[str]:
        return sorted({e.element_id for e in self.history if e.type == "element_completed" and e.element_id})

    @property
    def waiting_elements(self) -> list[str]:
        """Steps the case waits in now: open tasks, running jobs, timers and message catches."""
        return sorted({t.element_id for t in self.open_tasks}
                      | {j.element_id for j in self.jobs if j.status in (JobStatus.PENDING, JobStatus.RUNNING)}
                      | {element_id for element_id, _name, _due in self.timers}
                      | {element_id for element_id, _message in self.message_waits})

    @property
    def failed_elements(self) -> list[str]:
        return sorted({j.element_id for j in self.jobs if j.status == JobStatus.INCIDENT})


class CaseViews(CommandGroup):
    def __init__(self, core: EngineCore, queries: Queries, attachments: Attachments):
        super().__init__(core)
        self.queries, self.attachments = queries, attachments

    def case_view(self, actor: Actor, instance_id: str) -> CaseView:
        """The case with its history, tasks, jobs, timers, files and diagram; NotFound unless the actor may
        read it (checked once, here)."""
        instance, definition = self.queries.instance_for(actor, instance_id)
        running = instance.status == InstanceStatus.RUNNING
        return CaseView(
            instance=instance, definition=definition, model=self.queries.process_model(definition.id),
            diagram_xml=self.queries.definition_xml(definition.key, definition.version),
            history=self.queries.history_of(instance_id), open_tasks=self.queries.open_human_tasks_for(instance_id),
            jobs=self.queries.jobs_of(instance_id), incidents=self.queries.open_incidents(instance_id=instance_id),
            timers=self.queries.waiting_timers_of(actor, instance_id) if running else [],
            message_waits=self.queries.message_waits_of(instance_id),
            attachments=self.attachments.attachments_of(actor, instance_id),
            first_altered_event=self.queries.verify_history(instance_id),
        )
