"""BPMN signals across cases, as Camunda 7 broadcasts them: a signal reaches every case waiting for it.

A case waits for a signal at a signal catch event or boundary event (a `signal` subscription row, kept by the
write path like message subscriptions). A signal is sent by the API (`POST /api/v1/signals`, Camunda's
`POST /engine-rest/signal`) or thrown by a case: event_rewrites puts a step `<throw>__broadcast` on the
built-in topic `loopline.send_signal` after each signal throw event, so the broadcast is a job — durable,
retried, and run after the throwing case's own transaction (within the throwing case SpiffWorkflow delivers
the signal itself, at once). Each waiting case receives it in a command of its own; one that refuses it (a
listener or an expression failing) is reported and does not stop the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.exceptions import WorkflowException
from sqlalchemy import select

from integrations.registry import BusinessError, JobContext
from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.engine import CommandGroup
from orchestrator.errors import Conflict, EngineError, InvalidInput
from orchestrator.event_rewrites import SEND_SIGNAL_TOPIC
from orchestrator.instances import check_variables
from orchestrator.models import SIGNAL_WAIT, InstanceStatus, MessageSubscription, ProcessInstance

SENDER = Actor.system("send_signal")


@dataclass
class SignalDelivery:
    """Where a signal went: the cases that received it, and those that refused it with why."""

    delivered: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


class Signals(CommandGroup):
    def send_signal(self, name: str, variables: dict[str, Any] | None = None, *, actor: Actor,
                    skip_instance: str | None = None) -> SignalDelivery:
        """Deliver signal `name` to every running case waiting for it (but `skip_instance`, the thrower, which
        caught it already); its variables are set in each catching case."""
        require(actor, Permission.CORRELATE)
        if not name or not isinstance(name, str) or len(name) > 200:
            raise InvalidInput("a signal needs a name", {"name": "is required (at most 200 characters)"})
        variables = check_variables(variables)
        with self.core.db.reading() as session:
            waiting = list(dict.fromkeys(session.scalars(
                select(MessageSubscription.instance_id)
                .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
                .where(MessageSubscription.kind == SIGNAL_WAIT, MessageSubscription.message_name == name,
                       ProcessInstance.status == InstanceStatus.RUNNING)
                .order_by(MessageSubscription.instance_id))))
        outcome = SignalDelivery()
        for instance_id in waiting:
            if instance_id == skip_instance:
                continue
            try:
                self._deliver(instance_id, name, variables, actor)
                outcome.delivered.append(instance_id)
            except EngineError as exc:
                outcome.refused[instance_id] = exc.message
        return outcome

    def deliver(self, instance_id: str, name: str, variables: dict[str, Any] | None = None, *,
                actor: Actor) -> None:
        """Hand one case the signal, in a command of its own (a re-execution of its history does the same)."""
        require(actor, Permission.CORRELATE)
        self._deliver(instance_id, name, check_variables(variables), actor)

    def _deliver(self, instance_id: str, name: str, variables: dict[str, Any], actor: Actor) -> None:
        with self.core.command(instance_id, actor) as ctx:
            try:
                ctx.workflow.send_event(BpmnEvent(SignalEventDefinition(name), dict(variables)))
            except WorkflowException as exc:
                raise Conflict(f"process instance '{instance_id}' is not waiting for signal '{name}'") from exc
            ctx.record("signal_received", signal_name=name, variables=variables)
            ctx.run_engine()


class SendSignal:
    """`loopline.send_signal`: the broadcast step after a signal throw event. Input: signalName, variables?"""

    topic = SEND_SIGNAL_TOPIC
    system = None
    timeout = 60.0

    def __init__(self, engine):
        self.engine = engine

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        name = variables.get("signalName")
        if not name:
            raise BusinessError("E_INVALID_INPUT", f"{SEND_SIGNAL_TOPIC} needs signalName")
        outcome = self.engine.bpmn_signals.send_signal(name, variables.get("variables") or {}, actor=SENDER,
                                                       skip_instance=job.instance_id)
        return {"signalDeliveredTo": len(outcome.delivered), "signalRefusedBy": len(outcome.refused)}
