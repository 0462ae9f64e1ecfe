"""`trace.recall_scope` over the recorded trace events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.registry import BusinessError, ConnectorRegistry, IntegrationContext, JobContext
from integrations.traceability.scope import recall_scope
from integrations.traceability.suspects import InvalidSuspects, Suspects, parse_suspects


def suspects_from_variables(variables: dict[str, Any]) -> Suspects:
    """The suspects a service task names: `suspectLots`, `suspectSerials`, `serialRanges`, and `sku` + `lot`
    (the one lot a recall case starts from, added to the others)."""
    lots = variables.get("suspectLots") or []
    if isinstance(lots, Mapping):
        lots = [lots]
    if variables.get("lot") and isinstance(lots, list):
        lots = [*lots, {"sku": variables.get("sku") or "", "lot": variables["lot"]}]
    try:
        suspects = parse_suspects(lots, variables.get("suspectSerials"), variables.get("serialRanges"))
    except InvalidSuspects as exc:
        raise BusinessError("E_INVALID_INPUT", f"trace.recall_scope: {exc}", {"field": exc.field}) from exc
    if not suspects:
        raise BusinessError("E_INVALID_INPUT", "trace.recall_scope needs suspectLots, suspectSerials, "
                                               "serialRanges or sku + lot")
    return suspects


class RecallScope:
    """Input: `suspectLots` [{sku, lot}], `suspectSerials` [epc] (or text, one per line), `serialRanges`
    [{sku, from, to}], `sku` + `lot`: any mix, at least one. Output: `scope` (see scope.py), its `warnings` included. When no recorded event
    names any suspect the answer would be an empty scope built on missing data: that is the business error
    E_NO_TRACE_DATA, so the model routes to completing the trace data instead of notifying nobody."""

    topic = "trace.recall_scope"
    system = None  # reads Loopline's own trace store
    timeout = 60.0

    def __init__(self, context: IntegrationContext):
        self.context = context

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        suspects = suspects_from_variables(variables)
        with self.context.sessions() as session:
            scope = recall_scope(session, suspects)
        named = len(suspects.lots) + len(suspects.serials) + len(suspects.ranges)
        if len(scope["unknownSuspects"]) == named:
            raise BusinessError("E_NO_TRACE_DATA", "no recorded trace event names any suspect: "
                                + ", ".join(scope["unknownSuspects"]), {"unknownSuspects": scope["unknownSuspects"]})
        return {"scope": scope}


def register_builtin(registry: ConnectorRegistry, context: IntegrationContext) -> None:
    registry.register(RecallScope(context))
