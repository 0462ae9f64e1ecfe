"""Recall signal: returns with the same fault code on the same lot within a rolling window start one
recall evaluation — never two for one lot and fault (the idempotency key makes sure)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from orchestrator.actors import Actor
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import NotFound
from orchestrator.instances import Instances
from orchestrator.models import ProcessDefinition, ProcessInstance

SIGNAL = Actor.system("recall-signal")
RETURNS_KEY = "returns"
RECALL_KEY = "recall"
# graded "No fault found" (returns.bpmn's faultCode "none") or ungraded: not evidence of a defect
NO_FAULT = frozenset({"", "none"})


@dataclass(frozen=True)
class Signal:
    sku: str
    lot: str
    fault_code: str
    rma_numbers: tuple[str, ...]


class RecallSignals(CommandGroup):
    def __init__(self, core: EngineCore, instances: Instances):
        super().__init__(core)
        self.instances = instances

    def find_recall_signals(self) -> list[Signal]:
        """Groups of graded returns (sku, lot, fault code) in the window that reach the threshold."""
        since = self.core.now() - timedelta(days=self.core.settings.recall_signal_window_days)
        with self.core.db.reading() as session:
            rows = session.execute(
                select(ProcessInstance.business_key, ProcessInstance.variables)
                .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                .where(ProcessDefinition.key == RETURNS_KEY, ProcessInstance.started_at >= since)
            ).all()
        groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for business_key, variables in rows:
            variables = variables or {}
            fault = str(variables.get("faultCode") or "").strip()
            lot = variables.get("lotNumber")
            if fault.lower() not in NO_FAULT and lot:
                groups[(str(variables.get("sku") or ""), str(lot), str(fault))].append(business_key or "")
        return [Signal(sku, lot, fault, tuple(sorted(rmas))) for (sku, lot, fault), rmas in sorted(groups.items())
                if len(rmas) >= self.core.settings.recall_signal_threshold]

    def start_recall_evaluations(self) -> list[str]:
        """Start a recall evaluation for each new signal; returns the ids of instances started now."""
        started = []
        for signal in self.find_recall_signals():
            key = f"recall-signal:{signal.sku}:{signal.lot}:{signal.fault_code}"
            with self.core.db.reading() as session:
                if session.scalar(select(ProcessInstance.id).where(ProcessInstance.idempotency_key == key)):
                    continue
            try:
                row = self.instances.start_instance(RECALL_KEY, actor=SIGNAL, idempotency_key=key,
                                          business_key=f"SIGNAL-{signal.lot}-{signal.fault_code}"[:200],
                                          variables=_evidence(signal, self.core.settings.recall_signal_window_days))
            except NotFound:
                return started  # no recall process deployed
            started.append(row.id)
        return started


def _evidence(signal: Signal, window_days: int) -> dict:
    return {
        "triggerSource": "signal", "sku": signal.sku, "lotNumber": signal.lot, "faultCode": signal.fault_code,
        "signalWindowDays": window_days, "returnCount": len(signal.rma_numbers), "complaintCount": 0,
        "evidenceSummary": f"{len(signal.rma_numbers)} returns with fault {signal.fault_code} on lot {signal.lot} "
                           f"within {window_days} days: {', '.join(signal.rma_numbers)}",
    }
