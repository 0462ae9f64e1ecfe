"""EPCIS-style events, flattened to what recall scoping needs: what, when, where, why.

Each event is also written, normalised, into two side tables that the scope and the backward trace query
with indexes instead of reading JSON: `trace_event_unit` (every EPC an event names) and `trace_event_item`
(the edges of the "what became what" graph: inputs → outputs, lot → commissioned units, contents → container).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from integrations.db import IntegrationsBase, UTCDateTime

# roles of a trace_event_item row: forward goes input → output, containment child → parent
INPUT, OUTPUT, CHILD, PARENT = "input", "output", "child", "parent"
# shipments and destructions: what the recall scope needs of the events naming a unit (scope.py says it alike)
MOVES = "biz_step = 'shipping' OR biz_step = 'destroying' OR disposition = 'destroyed'"


class TraceEvent(IntegrationsBase):
    """One event. `kind`: object | aggregation | transformation | transaction (EPCIS event types).

    - object: `epcs` (serials) and/or `sku`+`lot`+`quantity` observed at a business step
      (commissioning, packing, shipping, receiving, selling, returning, destroying);
    - aggregation: `parent` (case/pallet id) contains `epcs` (action ADD) or no longer (DELETE);
    - transformation: `inputs` [{sku, lot, quantity}] (and the input units in `epcs`) became
      `outputs` [{sku, lot, quantity}];
    - shipping carries `destination` (consignee id), `destination_name`, `destination_kind`
      (distributor, retailer, consumer) and, for end customers, `contact` ({email, phone, name});
    - receiving carries `source` (supplier id) and `source_name`: the backward trace names the supplier.
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
    source: Mapped[str | None] = mapped_column(String(100))
    source_name: Mapped[str | None] = mapped_column(String(200))

    units: Mapped[list[TraceEventUnit]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    items: Mapped[list[TraceEventItem]] = relationship(cascade="all, delete-orphan", passive_deletes=True)

    def __init__(self, **values: Any):
        """Events are facts recorded once: their side-table rows are derived here, so every way in fills them."""
        super().__init__(**values)
        units, items = index_rows(self.kind, self.action, self.biz_step, self.sku, self.lot, self.epcs,
                                  self.parent, self.inputs, self.outputs)
        self.units = [TraceEventUnit(epc=epc, biz_step=self.biz_step, disposition=self.disposition) for epc in units]
        self.items = [TraceEventItem(**item) for item in items]


class TraceEventUnit(IntegrationsBase):
    """An EPC (serial, case or pallet id) one event names in its `epcs`; the event's step and disposition are
    copied so that the walk keeps shipments and destructions without reading every event that names a unit."""

    __tablename__ = "trace_event_unit"
    # the rows the scope looks for among the many that name a unit (commissioned, packed, received, sold …)
    __table_args__ = (Index("ix_trace_event_unit_moves", "epc", "biz_step", "event_id",
                            postgresql_where=text(MOVES), sqlite_where=text(MOVES)),)
    event_id: Mapped[int] = mapped_column(ForeignKey("trace_event.id", ondelete="CASCADE"), primary_key=True)
    epc: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    biz_step: Mapped[str | None] = mapped_column(String(40))
    disposition: Mapped[str | None] = mapped_column(String(40))


class TraceEventItem(IntegrationsBase):
    """One end of an edge of the trace graph: a lot (`sku`, `lot`, epc '') or a unit (`epc`, sku and lot '').

    Empty strings, never NULL, so that a node is matched by plain equality on one index.
    """

    __tablename__ = "trace_event_item"
    # every column a walk reads is in its index, so the probes need not visit the table
    __table_args__ = (Index("ix_trace_event_item_node", "epc", "lot", "sku", "role", "event_id"),
                      Index("ix_trace_event_item_event", "event_id", "role", "sku", "lot", "epc"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("trace_event.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10))
    sku: Mapped[str] = mapped_column(String(100), default="")
    lot: Mapped[str] = mapped_column(String(100), default="")
    epc: Mapped[str] = mapped_column(String(100), default="")
    quantity: Mapped[float | None] = mapped_column(Numeric(18, 3))


def index_rows(kind: str | None, action: str | None, biz_step: str | None, sku: str | None, lot: str | None,
               epcs: list[str] | None, parent: str | None, inputs: list[dict[str, Any]] | None,
               outputs: list[dict[str, Any]] | None) -> tuple[list[str], list[dict[str, Any]]]:
    """The side-table rows of one event: its distinct EPCs, and its graph edges as items with roles."""
    units = list(dict.fromkeys(str(epc) for epc in epcs or []))
    items: list[dict[str, Any]] = []

    def lot_item(role: str, entry: dict[str, Any]) -> dict[str, Any]:
        return {"role": role, "sku": str(entry.get("sku") or ""), "lot": str(entry.get("lot") or ""), "epc": "",
                "quantity": entry.get("quantity")}

    def unit_item(role: str, epc: str) -> dict[str, Any]:
        return {"role": role, "sku": "", "lot": "", "epc": epc, "quantity": None}

    if kind == "transformation":
        items += [lot_item(INPUT, entry) for entry in inputs or []]
        items += [unit_item(INPUT, epc) for epc in units]
        items += [lot_item(OUTPUT, entry) for entry in outputs or []]
    elif kind == "object" and biz_step == "commissioning" and (sku or lot) and units:
        items.append(lot_item(INPUT, {"sku": sku, "lot": lot}))
        items += [unit_item(OUTPUT, epc) for epc in units]
    elif kind == "aggregation" and action == "ADD" and parent:
        items += [unit_item(CHILD, epc) for epc in units]
        items.append(unit_item(PARENT, parent))
    return units, items
