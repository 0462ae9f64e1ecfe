"""Tables of the `local` backends: the embedded default runs with no outside ERP, QMS or CRM."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integrations.db import IntegrationsBase, UTCDateTime


class LocalRecord(IntegrationsBase):
    """One applied operation (stock movement, credit note, ticket, activity); the key makes it happen once."""

    __tablename__ = "local_record"
    __table_args__ = (UniqueConstraint("system", "idempotency_key", name="uq_local_record_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    system: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    reference: Mapped[str] = mapped_column(String(40), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StockLevel(IntegrationsBase):
    """Quantity on hand and in quarantine per SKU, lot and location (the local ERP's stock ledger)."""

    __tablename__ = "stock_level"
    sku: Mapped[str] = mapped_column(String(100), primary_key=True)
    lot: Mapped[str] = mapped_column(String(100), primary_key=True, default="")
    location: Mapped[str] = mapped_column(String(100), primary_key=True, default="main")
    on_hand: Mapped[float] = mapped_column(Numeric(18, 3), default=0)
    quarantined: Mapped[float] = mapped_column(Numeric(18, 3), default=0)
