"""Quality cases: the return cases Loopline runs plus complaints, repairs and outside returns recorded as events.
The recall signal and a CAPA's recurrence count them alike."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import Conflict, InvalidInput
from orchestrator.models import ProcessDefinition, ProcessInstance
from orchestrator.quality_models import QualityEvent, QualityEventKind

RETURNS_KEY = "returns"
# graded "No fault found" (returns.bpmn's faultCode "none") or ungraded: not evidence of a defect
NO_FAULT = frozenset({"", "none"})
# a reporting system's clock may run a little ahead of ours
CLOCK_SKEW = timedelta(minutes=5)
MAX_TEXT = 100


@dataclass(frozen=True)
class QualityCase:
    """One case as the signal and the recurrence count see it."""

    kind: str
    reference: str
    sku: str
    model: str
    lot: str
    fault_code: str
    at: datetime

    def as_variable(self) -> dict[str, Any]:
        """The case as a process variable (JSON)."""
        data = asdict(self)
        return {"kind": data["kind"], "reference": data["reference"], "sku": data["sku"], "model": data["model"],
                "lot": data["lot"], "faultCode": data["fault_code"], "occurredAt": self.at.isoformat()}


@dataclass(frozen=True)
class QualityEventInput:
    """What a reporting system sends: one complaint, repair or return."""

    kind: str
    reference: str
    sku: str
    fault_code: str
    occurred_at: datetime
    lot_number: str | None = None
    product_model: str | None = None


@dataclass(frozen=True)
class RecordedEvent:
    id: int
    case: QualityCase
    capa_instance_id: str | None


def fault_counts(fault_code: Any) -> bool:
    """Whether a fault code is evidence of a defect (graded, and not "No fault found")."""
    return str(fault_code or "").strip().lower() not in NO_FAULT


def model_of(sku: str, pattern: str) -> str:
    """The product model (SKU family) of a SKU: the first group of the configured pattern, else the SKU."""
    match = re.match(pattern, sku or "")
    return (match.group(1) if match and match.group(1) else sku or "").strip()


def quality_cases(session: Session, since: datetime, model_pattern: str,
                  fault_code: str | None = None) -> list[QualityCase]:
    """Every case with a real fault since `since` (returns by their start, events by when they happened);
    an event that reports a return Loopline runs itself is counted once."""
    cases: dict[tuple[str, str], QualityCase] = {}
    returns = session.execute(
        select(ProcessInstance.business_key, ProcessInstance.variables, ProcessInstance.started_at)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(ProcessDefinition.key == RETURNS_KEY, ProcessInstance.started_at >= since)
    ).all()
    for business_key, variables, started_at in returns:
        variables = variables or {}
        fault = str(variables.get("faultCode") or "").strip()
        if not fault_counts(fault) or (fault_code is not None and fault != fault_code):
            continue
        sku = str(variables.get("sku") or "").strip()
        reference = str(variables.get("rmaNumber") or business_key or "")
        model = str(variables.get("productModel") or "").strip() or model_of(sku, model_pattern)
        cases[("return", reference)] = QualityCase("return", reference, sku, model,
                                                   str(variables.get("lotNumber") or "").strip(), fault, started_at)
    query = select(QualityEvent).where(QualityEvent.occurred_at >= since)
    if fault_code is not None:
        query = query.where(QualityEvent.fault_code == fault_code)
    for event in session.scalars(query):
        cases.setdefault((event.kind, event.reference), case_of_event(event))
    return sorted(cases.values(), key=lambda case: (case.at, case.kind, case.reference))


def case_of_event(event: QualityEvent) -> QualityCase:
    return QualityCase(event.kind, event.reference, event.sku, event.product_model, event.lot_number or "",
                       event.fault_code, event.occurred_at)


class QualityEvents(CommandGroup):
    def __init__(self, core: EngineCore, capa_links):
        super().__init__(core)
        self.capa_links = capa_links

    def record_event(self, event: QualityEventInput, *, actor: Actor, request_capa: bool = False) -> RecordedEvent:
        """Record a complaint, repair or return reported elsewhere; when its fault code and lot have an open
        CAPA it joins that CAPA (with `request_capa`, one is opened when none is). A reference already
        recorded for the kind is refused (409): the event counts once."""
        require(actor, Permission.RECORD_TRACE)
        clean = self._checked(event)
        if request_capa:
            require(actor, Permission.CORRELATE)
        model = clean.product_model or model_of(clean.sku, self.core.settings.recall_signal_model_pattern)
        case = QualityCase(clean.kind, clean.reference, clean.sku, model, clean.lot_number or "",
                           clean.fault_code, clean.occurred_at)
        try:
            with self.core.db.transaction() as session:
                if session.scalar(select(QualityEvent.id).where(QualityEvent.kind == case.kind,
                                                               QualityEvent.reference == case.reference)):
                    raise Conflict(f"{case.kind} '{case.reference}' is already recorded", reference=case.reference)
                row = QualityEvent(kind=case.kind, reference=case.reference, sku=case.sku, product_model=model,
                                   lot_number=clean.lot_number, fault_code=case.fault_code,
                                   occurred_at=case.at, recorded_at=self.core.now(), recorded_by=actor.name)
                session.add(row)
                session.flush()
                if case.lot:
                    row.capa_instance_id = self.capa_links.join_or_open(session, case, actor=actor,
                                                                        open_if_none=request_capa)
                recorded = RecordedEvent(row.id, case, row.capa_instance_id)
        except IntegrityError as exc:  # the same reference sent twice at once: the other one counted
            raise Conflict(f"{case.kind} '{case.reference}' is already recorded", reference=case.reference) from exc
        return recorded

    def _checked(self, event: QualityEventInput) -> QualityEventInput:
        errors = {}
        if event.kind not in {kind.value for kind in QualityEventKind}:
            errors["kind"] = f"must be one of {', '.join(kind.value for kind in QualityEventKind)}"
        texts = {"reference": event.reference, "sku": event.sku, "faultCode": event.fault_code,
                 "lot": event.lot_number, "model": event.product_model}
        clean = {name: (value.strip() if isinstance(value, str) else value) for name, value in texts.items()}
        for name in ("reference", "sku", "faultCode"):
            if not clean[name]:
                errors[name] = "is required"
        for name, value in clean.items():
            if value is not None and not isinstance(value, str):
                errors[name] = "must be text"
            elif value and (len(value) > MAX_TEXT or "\x00" in value):
                errors[name] = f"at most {MAX_TEXT} characters, no NUL"
        if isinstance(clean["faultCode"], str) and clean["faultCode"] and not fault_counts(clean["faultCode"]):
            errors["faultCode"] = "'none' (no fault found) is not a quality event"
        occurred = event.occurred_at
        if not isinstance(occurred, datetime) or occurred.tzinfo is None:
            errors["occurredAt"] = "must be a date and time with a time zone"
        elif occurred > self.core.now() + CLOCK_SKEW:
            errors["occurredAt"] = "lies in the future"
        if errors:
            raise InvalidInput("the quality event cannot be recorded", errors)
        return QualityEventInput(event.kind, clean["reference"], clean["sku"], clean["faultCode"],
                                 occurred.astimezone(UTC), clean["lot"] or None, clean["model"] or None)
