"""EPCIS-style events, flattened to what recall scoping needs: what, when, where, why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from integrations.db import IntegrationsBase, UTCDateTime


class TraceEvent(IntegrationsBase):
    """One event. `kind`: object | aggregation | transformation | transaction (EPCIS event types).

    - object: `epcs` (serials) and/or `sku`+`lot`+`quantity` observed at a business step
      (commissioning, packing, shipping, receiving, selling, returning, destroying);
    - aggregation: `parent` (case/pallet id) contains `epcs` (action ADD) or no longer (DELETE);
    - transformation: `inputs` [{sku, lot, quantity}] became `outputs` [{sku, lot, quantity}];
    - shipping carries `destination` (consignee id), `destination_name`, `destination_kind`
      (distributor, retailer, consumer) and, for end customers, `contact` ({email, phone, name}).
    """

    __tablename__ = "trace_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    action: Mapped[str] = mapped_column(String(10), default="OBSERVE")
    event_time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    biz_step: Mapped[str | None] = mapped_column(String(40), index=True)
    disposition: Mapped[str | None] = mapped_column(String(40))
    biz_location: Mapped[str | None] = mapped_column(String(100))
    sku: Mapped[str | None] = mapped_column(String(100), index=True)
    lot: Mapped[str | None] = mapped_column(String(100), index=True)
    quantity: Mapped[float | None] = mapped_column(Numeric(18, 3))
    epcs: Mapped[list[str]] = mapped_column(JSON, default=list)
    parent: Mapped[str | None] = mapped_column(String(100), index=True)
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    destination: Mapped[str | None] = mapped_column(String(100))
    destination_name: Mapped[str | None] = mapped_column(String(200))
    destination_kind: Mapped[str | None] = mapped_column(String(40))
    contact: Mapped[dict[str, Any] | None] = mapped_column(JSON)
