"""Everything a person sees about one case, read once: the case page's single engine call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.actors import Actor
from orchestrator.attachments import case_attachments
from orchestrator.comments import COMMENT_EVENT
from orchestrator.definitions import ParsedProcess
from orchestrator.engine import CommandGroup
from orchestrator.history import GENESIS, head_is_signed
from orchestrator.models import MESSAGE_WAIT, SIGNAL_WAIT, InstanceStatus, JobStatus, ProcessInstance
from orchestrator.queries import (
    case_history,
    case_jobs,
    case_open_incidents,
    case_open_tasks,
    case_timers,
    case_waits,
    deployed_diagram,
    readable_instance,
)
from orchestrator.views import (
    AttachmentView,
    DefinitionView,
    HistoryEventView,
    IncidentView,
    InstanceView,
    JobView,
    TaskView,
)


@dataclass(frozen=True)
class CaseView:
    instance: InstanceView
    definition: DefinitionView
    model: ParsedProcess
    diagram_xml: str
    history: tuple[HistoryEventView, ...]
    open_tasks: tuple[TaskView, ...]
    jobs: tuple[JobView, ...]
    incidents: tuple[IncidentView, ...]
    timers: tuple[tuple[str, str | None, datetime], ...]  # element id, name, due
    message_waits: tuple[tuple[str, str], ...]  # element id, message name
    signal_waits: tuple[tuple[str, str], ...]  # element id, signal name
    attachments: tuple[AttachmentView, ...]
    # seq of the first event that does not link to its predecessor, or of the last one when the signed head
    # does not end the history shown; None = intact (recomputing every hash is `loopline audit verify`'s job)
    first_altered_event: int | None

    @property
    def comments(self) -> list[HistoryEventView]:
        return [event for event in self.history if event.type == COMMENT_EVENT]

    @property
    def passed_elements(self) -> list[str]:
        return sorted({e.element_id for e in self.history if e.type == "element_completed" and e.element_id})

    @property
    def waiting_elements(self) -> list[str]:
        """Steps the case waits in now: open tasks, running jobs, timers, message and signal catches."""
        return sorted({t.element_id for t in self.open_tasks}
                      | {j.element_id for j in self.jobs if j.status in (JobStatus.PENDING, JobStatus.RUNNING)}
                      | {element_id for element_id, _name, _due in self.timers}
                      | {element_id for element_id, _message in (*self.message_waits, *self.signal_waits)})

    @property
    def failed_elements(self) -> list[str]:
        return sorted({j.element_id for j in self.jobs if j.status == JobStatus.INCIDENT})


class CaseViews(CommandGroup):
    def case_view(self, actor: Actor, instance_id: str) -> CaseView:
        """The case with its history, tasks, jobs, timers, files and diagram; NotFound unless the actor may
        read it (checked once, here). One read transaction, so every part shows the same moment."""
        with self.core.db.reading() as session:
            instance, definition = readable_instance(session, actor, instance_id)
            running = instance.status == InstanceStatus.RUNNING
            history = tuple(case_history(session, instance_id))
            row = session.get(ProcessInstance, instance_id)  # loaded by readable_instance: no statement
            waits = case_waits(session, instance_id)
            return CaseView(
                instance=instance, definition=definition, model=self.core.definitions.get(session, definition.id),
                diagram_xml=deployed_diagram(self.core, session, definition),
                history=history,
                open_tasks=tuple(case_open_tasks(session, instance_id)),
                jobs=tuple(case_jobs(session, instance_id)),
                incidents=tuple(case_open_incidents(session, instance_id)),
                timers=tuple(case_timers(self.core, session, instance_id)) if running else (),
                message_waits=tuple(waits[MESSAGE_WAIT]),
                signal_waits=tuple(waits[SIGNAL_WAIT]),
                attachments=tuple(case_attachments(session, instance_id)),
                first_altered_event=self._first_altered_event(row, history),
            )

    def _first_altered_event(self, row: ProcessInstance, history: tuple[HistoryEventView, ...]) -> int | None:
        """The cheap check for every view: the events link up, and the signed head and count end them."""
        prev = GENESIS
        for event in history:
            if event.prev_hash != prev:
                return event.seq
            prev = event.hash
        if row.history_signature is None and not history:
            return None  # a case that never recorded an event
        intact = (head_is_signed(self.core.settings.audit_signing_key, row)
                  and row.history_head == (history[-1].hash if history else None)
                  and (row.history_count or 0) == len(history))
        if not intact:
            return history[-1].seq if history else 1  # every event gone: the first one is missing
        return None
