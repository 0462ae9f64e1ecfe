"""Message correlation: deliver to the one instance waiting for it, or start one by a message start event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.exceptions import WorkflowException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.instances import Instances, check_variables
from orchestrator.models import (
    MESSAGE_WAIT,
    InstanceStatus,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
)
from orchestrator.parser import MessageEventDefinition, extensions_of


@dataclass(frozen=True)
class Correlation:
    """Where a message went."""

    instance_id: str
    started: bool


class Messages(CommandGroup):
    def __init__(self, core: EngineCore, instances: Instances):
        super().__init__(core)
        self.instances = instances

    def correlate_message(
        self,
        name: str,
        *,
        actor: Actor,
        business_key: str | None = None,
        correlation_keys: dict[str, Any] | None = None,
        variables: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Correlation:
        """Deliver a message by name + business key or correlation key; 404 if nothing waits, 409 if ambiguous.

        With an idempotency key, a message that already started an instance returns that instance again."""
        require(actor, Permission.CORRELATE)
        if not name or not isinstance(name, str):
            raise InvalidInput("a message needs a name", {"messageName": "is required"})
        variables = check_variables(variables)
        if correlation_keys and len(correlation_keys) != 1:
            raise InvalidInput("give exactly one correlation key", {"correlationKeys": "must hold one variable"})
        with self.core.db.transaction() as session:
            if idempotency_key:
                started = session.scalar(select(ProcessInstance.id).where(
                    ProcessInstance.idempotency_key == idempotency_key))
                if started is not None:
                    return Correlation(started, started=True)
            waiting = self._waiting_instances(session, name, business_key, correlation_keys)
            if len(waiting) > 1:
                raise Conflict(f"message '{name}' matches {len(waiting)} instances; add a business or correlation key",
                               instances=waiting[:20])
            if waiting:
                with self.core.command(waiting[0], actor, session=session) as ctx:
                    event = BpmnEvent(MessageEventDefinition(name), {"payload": variables})
                    try:
                        if correlation_keys:
                            _deliver_to_correlated(ctx.workflow, event, correlation_keys)
                        else:
                            ctx.workflow.send_event(event)
                    except WorkflowException as exc:
                        raise NotFound(f"process instance '{waiting[0]}' is not waiting for message '{name}'") from exc
                    ctx.record("message_correlated", message_name=name, business_key=business_key,
                               correlation_keys=correlation_keys or {}, variables=variables)
                    ctx.run_engine()
                result = Correlation(waiting[0], started=False)
            else:
                definition = self._message_start_definition(session, name, business_key, correlation_keys)
                row = self.instances.start_in(session, definition, actor, business_key, variables, idempotency_key,
                                  message=(name, variables))
                result = Correlation(row.id, started=True)
        return result

    def _waiting_instances(self, session: Session, name: str, business_key: str | None,
                           correlation_keys: dict[str, Any] | None) -> list[str]:
        query = (
            select(MessageSubscription.instance_id)
            .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
            .where(MessageSubscription.message_name == name, MessageSubscription.kind == MESSAGE_WAIT,
                   ProcessInstance.status == InstanceStatus.RUNNING)
        )
        if business_key is not None:
            query = query.where(ProcessInstance.business_key == business_key)
        if correlation_keys:
            ((variable, value),) = correlation_keys.items()
            query = query.where(MessageSubscription.correlation_var == variable,
                                MessageSubscription.correlation_key == str(value))
        return list(dict.fromkeys(session.scalars(query.limit(50))))

    def _message_start_definition(self, session: Session, name: str, business_key: str | None,
                                  correlation_keys: dict[str, Any] | None) -> ProcessDefinition:
        latest = (
            select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
            .group_by(ProcessDefinition.key)
            .subquery()
        )
        definitions = session.scalars(
            select(ProcessDefinition).join(
                latest, (ProcessDefinition.key == latest.c.key) & (ProcessDefinition.version == latest.c.version)
            )
        )
        starters = [d for d in definitions if name in (d.start_messages or [])]
        if len(starters) > 1:
            raise Conflict(f"message '{name}' starts several processes: {', '.join(d.key for d in starters)}")
        if not starters:
            keys = f" with business key '{business_key}'" if business_key is not None else ""
            if correlation_keys:
                keys += f" and correlation key {correlation_keys}"
            raise NotFound(f"no process instance is waiting for message '{name}'{keys}, and no process starts with it")
        return starters[0]


def _deliver_to_correlated(workflow, event: BpmnEvent, correlation_keys: dict[str, Any]) -> None:
    """Complete only the catches whose correlation variable holds the key. SpiffWorkflow's send_event completes
    every catch waiting for the message name (each recipient of a multi-instance wait); Camunda correlates the
    message to the execution whose variable matches."""
    ((variable, value),) = correlation_keys.items()
    matching = [task for task in list(workflow.event_manager.tasks.values())
                if task.task_spec.catches(task, event)
                and (extensions_of(task.task_spec).get("properties") or {}).get("correlationKey") == variable
                and str(task.data.get(variable)) == str(value)]
    if not matching:
        raise WorkflowException(f"no catch event waits for {event.event_definition.name} with {variable}={value}")
    for task in matching:
        task.task_spec.catch(task, event)
        task.task_spec._update(task)
