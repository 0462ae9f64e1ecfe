"""`trace.recall_scope` over the recorded trace events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from integrations.registry import BusinessError, ConnectorRegistry, IntegrationContext, JobContext
from integrations.traceability.models import TraceEvent
from integrations.traceability.scope import recall_scope


class RecallScope:
    """Input: `suspectLots` [{sku, lot}] and/or `suspectSerials` [epc]; output: the scope (see scope.py)."""

    topic = "trace.recall_scope"
    system = None  # reads Loopline's own trace store
    timeout = 60.0

    def __init__(self, context: IntegrationContext):
        self.context = context

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        lots = variables.get("suspectLots") or []
        if isinstance(lots, dict):
            lots = [lots]
        serials = variables.get("suspectSerials") or []
        if not lots and variables.get("lot"):
            lots = [{"sku": variables.get("sku") or "", "lot": variables["lot"]}]
        if not lots and not serials:
            raise BusinessError("E_INVALID_INPUT", "trace.recall_scope needs suspectLots or suspectSerials")
        with self.context.sessions() as session:
            events = list(session.scalars(select(TraceEvent)))
        return {"scope": recall_scope(events, lots, [str(s) for s in serials])}


def register_builtin(registry: ConnectorRegistry, context: IntegrationContext) -> None:
    registry.register(RecallScope(context))
