"""Recall signal: cases (returns, complaints, repairs) with one fault code on one lot, or on one product model,
within a rolling window start a recall evaluation once they reach the threshold. Each evaluation records the
cases it counted; the same lot or model and fault starts another only after `recall_signal_rearm_after` cases
it did not see (and not while the previous evaluation still runs), so a "no recall" decision is not forever.

This group also builds the quality loop's other parts (quality events, one CAPA per problem) and registers
their connectors, as the engine's one place that owns the loop from case to recall and CAPA."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from orchestrator import capa_links
from orchestrator.actors import Actor
from orchestrator.capa_links import CapaLinks
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import EngineError, NotFound
from orchestrator.instances import Instances
from orchestrator.models import InstanceStatus, ProcessInstance
from orchestrator.quality_events import QualityCase, QualityEvents, quality_cases
from orchestrator.quality_models import SignalEvaluation

log = logging.getLogger(__name__)

SIGNAL = Actor.system("recall-signal")
RECALL_KEY = "recall"
LOT, MODEL = "lot", "model"
MAX_EVIDENCE = 4000  # the recall start form's limit for evidenceSummary


@dataclass(frozen=True)
class Signal:
    """A (lot or model, fault code) whose cases in the window reached the threshold and may be evaluated."""

    scope: str
    scope_value: str
    fault_code: str
    cases: tuple[QualityCase, ...]
    new_cases: int  # cases no earlier evaluation of this key counted
    evaluation_number: int  # 1 for the first evaluation of this key

    @property
    def lot(self) -> str:
        return self.scope_value if self.scope == LOT else ", ".join(sorted({c.lot for c in self.cases if c.lot}))

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(case.reference for case in self.cases)

    @property
    def rma_numbers(self) -> tuple[str, ...]:
        return tuple(sorted(case.reference for case in self.cases if case.kind == "return"))


class RecallSignals(CommandGroup):
    def __init__(self, core: EngineCore, instances: Instances):
        super().__init__(core)
        self.instances = instances
        self.capa_links = CapaLinks(core, instances)
        self.quality_events = QualityEvents(core, self.capa_links)
        capa_links.install(core, self.capa_links)

    def find_recall_signals(self) -> list[Signal]:
        """The (lot or model, fault code) groups in the window that reach their threshold and are armed: never
        evaluated, or with enough new cases since the last evaluation, which has ended."""
        settings = self.core.settings
        since = self.core.now() - timedelta(days=settings.recall_signal_window_days)
        with self.core.db.reading() as session:
            cases = quality_cases(session, since, settings.recall_signal_model_pattern)
            groups: dict[tuple[str, str, str], list[QualityCase]] = defaultdict(list)
            for case in cases:
                if case.lot:
                    groups[(LOT, case.lot, case.fault_code)].append(case)
                if case.model:
                    groups[(MODEL, case.model, case.fault_code)].append(case)
            thresholds = {LOT: settings.recall_signal_threshold, MODEL: settings.recall_signal_model_threshold}
            signals = []
            for (scope, value, fault), members in sorted(groups.items()):
                if len(members) < thresholds[scope]:
                    continue
                signal = self._armed(session, scope, value, fault, members)
                if signal is not None:
                    signals.append(signal)
        return signals

    def _armed(self, session, scope: str, value: str, fault: str, members: list[QualityCase]) -> Signal | None:
        earlier = list(session.execute(
            select(SignalEvaluation.cases, SignalEvaluation.recall_instance_id)
            .where(SignalEvaluation.scope == scope, SignalEvaluation.scope_value == value,
                   SignalEvaluation.fault_code == fault).order_by(SignalEvaluation.id)))
        seen = {(case["kind"], case["reference"]) for cases, _ in earlier for case in cases}
        new = sum((case.kind, case.reference) not in seen for case in members)
        if earlier:
            last_recall = earlier[-1][1]
            still_running = last_recall and session.scalar(select(func.count()).where(
                ProcessInstance.id == last_recall, ProcessInstance.status == InstanceStatus.RUNNING))
            if still_running or new < self.core.settings.recall_signal_rearm_after:
                return None
        return Signal(scope, value, fault, tuple(members), new, len(earlier) + 1)

    def start_recall_evaluations(self) -> list[str]:
        """Start a recall evaluation for each armed signal and record what it counted; returns the ids of the
        instances started now. A crash between the two is repaired by the next sweep (same idempotency key)."""
        started = []
        for signal in self.find_recall_signals():
            if len(signal.scope_value) > 100 or len(signal.fault_code) > 100:  # what an evaluation row can hold
                log.warning("recall signal on %s %r / fault %r skipped: the text is longer than 100 characters",
                            signal.scope, signal.scope_value[:120], signal.fault_code[:120])
                continue
            key = f"recall-signal:{signal.scope}:{signal.scope_value}:{signal.fault_code}:{signal.evaluation_number}"
            business_key = f"SIGNAL-{signal.scope.upper()}-{signal.scope_value}-{signal.fault_code}"
            if signal.evaluation_number > 1:
                business_key += f"-{signal.evaluation_number}"
            try:
                row = self.instances.start_instance(RECALL_KEY, actor=SIGNAL, idempotency_key=key[:200],
                                                    business_key=business_key[:200], variables=self._evidence(signal))
            except NotFound:
                return started  # no recall process deployed
            except EngineError as exc:  # e.g. the deployed start form wants more: the other signals still go
                log.warning("recall signal %s could not start an evaluation: %s", key, exc.message)
                continue
            with self.core.db.transaction() as session:
                session.add(SignalEvaluation(
                    scope=signal.scope, scope_value=signal.scope_value, fault_code=signal.fault_code,
                    evaluated_at=self.core.now(), window_days=self.core.settings.recall_signal_window_days,
                    threshold=self._threshold(signal.scope), cases=[c.as_variable() for c in signal.cases],
                    new_cases=signal.new_cases, recall_instance_id=row.id))
            started.append(row.id)
        return started

    def evaluations_of(self, recall_instance_id: str) -> list[SignalEvaluation]:
        """What the signal counted when it raised this recall case (empty for one raised by hand)."""
        with self.core.db.reading() as session:
            return list(session.scalars(select(SignalEvaluation).where(
                SignalEvaluation.recall_instance_id == recall_instance_id)))

    def _threshold(self, scope: str) -> int:
        settings = self.core.settings
        return settings.recall_signal_threshold if scope == LOT else settings.recall_signal_model_threshold

    def _evidence(self, signal: Signal) -> dict:
        window = self.core.settings.recall_signal_window_days
        kinds = Counter(case.kind for case in signal.cases)
        skus = Counter(case.sku for case in signal.cases if case.sku)
        models = Counter(case.model for case in signal.cases if case.model)
        where = f"lot {signal.scope_value}" if signal.scope == LOT else f"model {signal.scope_value}"
        counted = ", ".join(f"{count} {kind}{'s' if count != 1 else ''}" for kind, count in sorted(kinds.items()))
        listing = "; ".join(f"{c.kind} {c.reference} ({c.sku}{', lot ' + c.lot if c.lot else ''}, "
                            f"{c.at.date().isoformat()})" for c in signal.cases)
        rearmed = (f" Evaluation {signal.evaluation_number} of this {signal.scope} and fault: "
                   f"{signal.new_cases} cases since the last one." if signal.evaluation_number > 1 else "")
        summary = (f"{counted} with fault {signal.fault_code} on {where} within {window} days "
                   f"(threshold {self._threshold(signal.scope)}).{rearmed} Cases: {listing}")
        if len(summary) > MAX_EVIDENCE:
            summary = summary[:MAX_EVIDENCE - 1] + "…"
        return {
            "triggerSource": "signal", "sku": skus.most_common(1)[0][0] if skus else signal.scope_value,
            "productModel": signal.scope_value if signal.scope == MODEL else models.most_common(1)[0][0] if models else "",
            "lotNumber": signal.lot or "(no lot recorded)", "faultCode": signal.fault_code,
            "signalScope": signal.scope, "signalWindowDays": window, "signalEvaluationNumber": signal.evaluation_number,
            "returnCount": kinds.get("return", 0), "complaintCount": kinds.get("complaint", 0),
            "repairCount": kinds.get("repair", 0), "signalNewCases": signal.new_cases,
            "signalCases": [case.as_variable() for case in signal.cases], "evidenceSummary": summary,
        }
