"""The straightforward recall scope over events held in memory: iterate to a fixed point, then sum.

It reads every event, so it does not scale (the SQL in scope.py does); it stays as the reference the SQL
scope is checked against on random supply chains (tests) and measured against (bench/trace_scope.py).
Same output fields as the SQL scope's core: lots, units, unitCount, shippedUnits, quantity, consignees,
consigneeCount, identifiableCustomers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from integrations.traceability.models import TraceEvent

LotKey = tuple[str, str]  # (sku, lot)


@dataclass
class Scope:
    lots: set[LotKey] = field(default_factory=set)
    epcs: set[str] = field(default_factory=set)
    containers: set[str] = field(default_factory=set)
    contents: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # container → suspect units


def _lot(item: dict[str, Any]) -> LotKey:
    return str(item.get("sku") or ""), str(item.get("lot") or "")


def widen(events: list[TraceEvent], scope: Scope) -> Scope:
    """Grow the suspect set until nothing new is reached: lots → their serials → outputs → containers."""
    changed = True
    while changed:
        before = (len(scope.lots), len(scope.epcs), len(scope.containers))
        for event in events:
            if event.kind == "transformation":
                if any(_lot(item) in scope.lots for item in event.inputs or []) or \
                        set(event.epcs or []) & scope.epcs:
                    scope.lots.update(_lot(item) for item in event.outputs or [])
            elif event.kind == "object" and event.biz_step == "commissioning" and \
                    (event.sku or "", event.lot or "") in scope.lots:
                scope.epcs.update(event.epcs or [])
            elif event.kind == "aggregation" and event.action == "ADD" and event.parent:
                inside = set(event.epcs or [])
                suspects = (inside & scope.epcs) | {u for c in inside & scope.containers for u in scope.contents[c]}
                if suspects:
                    scope.containers.add(event.parent)
                    scope.contents[event.parent] |= suspects
        changed = before != (len(scope.lots), len(scope.epcs), len(scope.containers))
    return scope


def naive_recall_scope(events: list[TraceEvent], suspect_lots: list[dict[str, Any]], suspect_serials: list[str]
                 ) -> dict[str, Any]:
    """The affected units, quantities and consignees of the suspect lots and serials."""
    ordered = sorted(events, key=lambda e: (e.event_time, e.id or 0))
    scope = widen(ordered, Scope(lots={_lot(item) for item in suspect_lots}, epcs=set(suspect_serials)))
    destroyed_epcs = {epc for e in ordered if e.biz_step == "destroying" or e.disposition == "destroyed"
                      for epc in (e.epcs or [])}
    destroyed_qty: dict[LotKey, float] = defaultdict(float)
    for event in ordered:
        if (event.biz_step == "destroying" or event.disposition == "destroyed") and event.lot and not event.epcs:
            destroyed_qty[(event.sku or "", event.lot)] += float(event.quantity or 0)

    consignees: dict[str, dict[str, Any]] = {}
    shipped_units: set[str] = set()
    for event in ordered:
        if event.biz_step != "shipping" or not event.destination:
            continue
        shipped = set(event.epcs or []) | ({event.parent} if event.parent else set())
        hit_epcs = (shipped & scope.epcs) | {u for c in shipped & scope.containers for u in scope.contents[c]}
        hit_epcs -= destroyed_epcs
        lot_key = (event.sku or "", event.lot or "")
        by_lot = bool(event.lot) and lot_key in scope.lots and not shipped
        if not (hit_epcs or by_lot):
            continue
        quantity = float(len(hit_epcs)) if hit_epcs else float(event.quantity or 0)
        shipped_units |= hit_epcs
        entry = consignees.setdefault(event.destination, {
            "id": event.destination, "name": event.destination_name, "kind": event.destination_kind or "unknown",
            "contact": event.contact, "quantity": 0.0, "firstShipped": event.event_time.isoformat(),
            "lastShipped": event.event_time.isoformat(), "lots": set()})
        entry["quantity"] += quantity
        entry["lastShipped"] = event.event_time.isoformat()
        if event.lot:
            entry["lots"].add(f"{event.sku or ''}/{event.lot}")
    for entry in consignees.values():
        entry["lots"] = sorted(entry["lots"])
    total = sum(c["quantity"] for c in consignees.values()) - sum(
        qty for key, qty in destroyed_qty.items() if key in scope.lots)
    return {
        "lots": sorted(f"{sku}/{lot}" for sku, lot in scope.lots),
        "units": sorted(scope.epcs - destroyed_epcs),
        "unitCount": len(scope.epcs - destroyed_epcs),
        "shippedUnits": len(shipped_units),
        "quantity": max(total, 0.0),
        "consignees": sorted(consignees.values(), key=lambda c: c["id"]),
        "consigneeCount": len(consignees),
        "identifiableCustomers": sum(1 for c in consignees.values() if c["kind"] == "consumer" and c["contact"]),
    }
