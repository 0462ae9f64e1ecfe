"""Tables of the quality loop: complaints and repairs recorded as events, and what each recall-signal
evaluation saw (so a recall case can say which cases raised it, and a "no recall" can be re-armed)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.db import Base, UTCDateTime


class QualityEventKind(enum.StrEnum):
    RETURN = "return"
    COMPLAINT = "complaint"
    REPAIR = "repair"


class QualityEvent(Base):
    """A complaint, repair or return reported by another system (CRM, service desk, shop): no process runs it,
    but it counts for the recall signal and a CAPA's recurrence like a return case does."""

    __tablename__ = "quality_event"
    __table_args__ = (
        UniqueConstraint("kind", "reference", name="uq_quality_event_kind_reference"),
        Index("ix_quality_event_fault_lot", "fault_code", "lot_number"),
        Index("ix_quality_event_fault_model", "fault_code", "product_model"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(100))
    sku: Mapped[str] = mapped_column(String(100))
    product_model: Mapped[str] = mapped_column(String(100))
    lot_number: Mapped[str | None] = mapped_column(String(100))
    fault_code: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))
    # the open CAPA this event joined, if any
    capa_instance_id: Mapped[str | None] = mapped_column(String(36))


class CapaCaseLink(Base):
    """A case (return, complaint, repair, recall) that raised or joined a CAPA: one open CAPA per fault code and
    lot collects every case of that problem instead of each opening its own."""

    __tablename__ = "capa_case_link"
    __table_args__ = (UniqueConstraint("capa_instance_id", "kind", "reference", name="uq_capa_case_link_case"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    capa_instance_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(100))
    lot_number: Mapped[str] = mapped_column(String(100))
    fault_code: Mapped[str] = mapped_column(String(100))
    joined: Mapped[bool] = mapped_column(Boolean)  # False: the case that opened the CAPA
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    linked_by: Mapped[str] = mapped_column(String(200))


class SignalEvaluation(Base):
    """One recall evaluation raised by the signal for a (lot or model, fault code): the cases it counted.
    The next evaluation of the same key needs `recall_signal_rearm_after` cases it has not seen."""

    __tablename__ = "signal_evaluation"
    __table_args__ = (Index("ix_signal_evaluation_key", "scope", "scope_value", "fault_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))  # lot | model
    scope_value: Mapped[str] = mapped_column(String(100))
    fault_code: Mapped[str] = mapped_column(String(100))
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    window_days: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    # [{"kind": "return", "reference": "RMA-1", "sku": …, "lot": …, "model": …, "occurredAt": …}, …]
    cases: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    new_cases: Mapped[int] = mapped_column(Integer)
    recall_instance_id: Mapped[str | None] = mapped_column(String(36))
