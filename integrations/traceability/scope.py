"""Recall scope: from suspect lots/serials/ranges, follow transformations and commissioning forward, then
containment (units → cases → pallets) to shipments; drop what was destroyed. One recursive SQL statement does
the walking with indexes (it never reads the whole event table); Python only sums the rows per consignee.

The answer: lots, units, quantities, consignees with ship dates, counts by kind and `warnings` — what a
recall coordinator must see before the notices go out (e.g. a scope that reaches nobody).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import JSON, Float, Integer, Row, String, text
from sqlalchemy.orm import Session

from integrations.db import UTCDateTime
from integrations.traceability.graph import dialect_of, lot_label, run_walk, seed_cte
from integrations.traceability.models import MOVES
from integrations.traceability.suspects import Suspects

DESTROYED = "({t}.biz_step = 'destroying' OR {t}.disposition = 'destroyed')"
# word for word the predicate of the partial index ix_trace_event_unit_moves, so both databases use it
UNIT_MOVES = "(" + " OR ".join(f"u.{term}" for term in MOVES.split(" OR ")) + ")"

# reach: the suspect lots and units, forward through transformations and commissioning;
# held: (unit, holder) for every suspect unit and each case/pallet it was packed into, up to the top;
# named: per distinct holder, the shipments naming it (in epcs or as parent) and, for units, destructions.
# Rows out: 'ship' (a shipment of a holder), 'held' (a unit, and in the lot column the container it is in),
# 'lotship' (a suspect lot shipped
# by quantity), 'lot' (with its destroyed quantity), 'unit' (with whether it was destroyed).
SCOPE_SQL = """
WITH RECURSIVE {seed},
reach(sku, lot, epc) AS (
    SELECT sku, lot, epc FROM seed
    UNION
    SELECT CAST(o.sku AS TEXT), CAST(o.lot AS TEXT), CAST(o.epc AS TEXT)
    FROM reach r
    JOIN trace_event_item i ON i.epc = r.epc AND i.lot = r.lot AND i.sku = r.sku AND i.role = 'input'
    JOIN trace_event_item o ON o.event_id = i.event_id AND o.role = 'output'
),
held(unit, holder) AS (
    SELECT epc, epc FROM reach WHERE epc <> ''
    UNION
    SELECT h.unit, CAST(p.epc AS TEXT)
    FROM held h
    JOIN trace_event_item c ON c.epc = h.holder AND c.lot = '' AND c.sku = '' AND c.role = 'child'
    JOIN trace_event_item p ON p.event_id = c.event_id AND p.role = 'parent'
),
holders(holder) AS (SELECT DISTINCT holder FROM held),
named(holder, event_pk, destroyed) AS (
    SELECT d.holder, u.event_id, CASE WHEN u.biz_step = 'shipping' THEN 0 ELSE 1 END
    FROM holders d JOIN trace_event_unit u ON u.epc = d.holder
    WHERE {unit_moves}
    UNION ALL
    SELECT d.holder, e.id, 0 FROM holders d JOIN trace_event e ON e.parent = d.holder
    WHERE e.biz_step = 'shipping'
)
SELECT 'ship' AS row_kind, s.sku, s.lot, n.holder AS unit, s.id AS event_pk, s.event_time, s.quantity,
       s.destination, s.destination_name, s.destination_kind, s.contact, 0 AS flag
FROM named n JOIN trace_event s ON s.id = n.event_pk
WHERE n.destroyed = 0 AND s.biz_step = 'shipping' AND s.destination IS NOT NULL
UNION ALL
SELECT 'held', NULL, h.holder, h.unit, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0
FROM held h WHERE h.holder <> h.unit
UNION ALL
SELECT 'lotship', s.sku, s.lot, NULL, s.id, s.event_time, s.quantity, s.destination, s.destination_name,
       s.destination_kind, s.contact, 0
FROM reach r JOIN trace_event s ON s.lot = r.lot AND COALESCE(s.sku, '') = r.sku
WHERE r.epc = '' AND s.biz_step = 'shipping' AND s.destination IS NOT NULL AND s.parent IS NULL
  AND NOT EXISTS (SELECT 1 FROM trace_event_unit su WHERE su.event_id = s.id)
UNION ALL
SELECT 'lot', r.sku, r.lot, NULL, NULL, NULL,
       (SELECT SUM(e.quantity) FROM trace_event e WHERE e.lot = r.lot AND COALESCE(e.sku, '') = r.sku
          AND {event_destroyed} AND NOT EXISTS (SELECT 1 FROM trace_event_unit eu WHERE eu.event_id = e.id)),
       NULL, NULL, NULL, NULL, 0
FROM reach r WHERE r.epc = ''
UNION ALL
SELECT 'unit', NULL, NULL, r.epc, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       CASE WHEN r.epc IN (SELECT holder FROM named WHERE destroyed = 1) THEN 1 ELSE 0 END
FROM reach r WHERE r.epc <> ''
"""

KNOWN_SQL = """
WITH {seed}
SELECT s.sku, s.lot, s.epc, CASE WHEN s.epc = '' THEN
    CASE WHEN EXISTS (SELECT 1 FROM trace_event_item i WHERE i.epc = '' AND i.lot = s.lot AND i.sku = s.sku)
           OR EXISTS (SELECT 1 FROM trace_event e WHERE e.lot = s.lot AND COALESCE(e.sku, '') = s.sku)
         THEN 1 ELSE 0 END
  ELSE
    CASE WHEN EXISTS (SELECT 1 FROM trace_event_unit u WHERE u.epc = s.epc)
           OR EXISTS (SELECT 1 FROM trace_event e WHERE e.parent = s.epc)
         THEN 1 ELSE 0 END
  END AS known
FROM seed s
"""

RANGE_SQL = "WITH {seed} SELECT COUNT(*) FROM seed"

ROW_TYPES = dict(row_kind=String(), sku=String(), lot=String(), unit=String(), event_pk=Integer(),
                 event_time=UTCDateTime(), quantity=Float(), destination=String(), destination_name=String(),
                 destination_kind=String(), contact=JSON(), flag=Integer())


def recall_scope(session: Session, suspects: Suspects) -> dict[str, Any]:
    """The affected lots, units, quantities and consignees of the suspects, with counts and warnings."""
    dialect = dialect_of(session)
    seed, params = seed_cte(dialect, suspects)
    statement = text(SCOPE_SQL.format(seed=seed, unit_moves=UNIT_MOVES,
                                      event_destroyed=DESTROYED.format(t="e"))).columns(**ROW_TYPES)
    rows = run_walk(session, statement, params)

    lots: set[tuple[str, str]] = set()
    units: set[str] = set()
    destroyed_units: set[str] = set()
    destroyed_quantity = 0.0
    inside: dict[str, set[str]] = defaultdict(set)  # container → the suspect units packed in it, at any depth
    shipped_holders: list[Row] = []
    lot_shipments: list[Row] = []
    for row in rows:
        if row.row_kind == "lot":
            lots.add((row.sku, row.lot))
            destroyed_quantity += row.quantity or 0.0
        elif row.row_kind == "unit":
            units.add(row.unit)
            if row.flag:
                destroyed_units.add(row.unit)
        elif row.row_kind == "held":
            inside[row.lot].add(row.unit)
        elif row.row_kind == "ship":
            shipped_holders.append(row)
        else:
            lot_shipments.append(row)

    shipments: dict[int, dict[str, Any]] = {row.event_pk: {"row": row, "units": set()} for row in lot_shipments}
    for row in shipped_holders:
        hit = (inside.get(row.unit, set()) | ({row.unit} & units)) - destroyed_units
        if hit:
            shipments.setdefault(row.event_pk, {"row": row, "units": set()})["units"] |= hit
    consignees, shipped_units = _consignees(shipments)
    in_scope = units - destroyed_units
    total = sum(c["quantity"] for c in consignees.values()) - destroyed_quantity
    listed = sorted(consignees.values(), key=lambda c: c["id"])
    by_kind = Counter(c["kind"] for c in listed)
    answer = {
        "lots": sorted(lot_label(sku, lot) for sku, lot in lots),
        "lotCount": len(lots),
        "units": sorted(in_scope),
        "unitCount": len(in_scope),
        "destroyedUnits": len(destroyed_units),
        "shippedUnits": len(shipped_units),
        "quantity": max(total, 0.0),
        "consignees": listed,
        "consigneeCount": len(listed),
        "consigneesByKind": dict(sorted(by_kind.items())),
        "identifiableCustomers": sum(1 for c in listed if c["kind"] == "consumer" and c["contact"]),
    }
    # units of a lot shipped by quantity cannot be told apart: only count the unshipped when none was
    unshipped = 0 if lot_shipments else len(in_scope - shipped_units)
    unknown = unknown_suspects(session, suspects, dialect)
    answer["unknownSuspects"] = list(unknown)
    answer["warnings"] = list(unknown.values()) + _warnings(answer, unshipped)
    return answer


def _consignees(shipments: dict[int, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Sum the hit shipments per consignee in time order: units counted where known, else the lot quantity."""
    consignees: dict[str, dict[str, Any]] = {}
    shipped_units: set[str] = set()
    for shipment in sorted(shipments.values(), key=lambda s: (s["row"].event_time, s["row"].event_pk)):
        row, hit_units = shipment["row"], shipment["units"]
        shipped_units |= hit_units
        quantity = float(len(hit_units)) if hit_units else float(row.quantity or 0)
        when = row.event_time.isoformat()
        entry = consignees.setdefault(row.destination, {
            "id": row.destination, "name": row.destination_name, "kind": row.destination_kind or "unknown",
            "contact": row.contact, "quantity": 0.0, "firstShipped": when, "lastShipped": when, "lots": set()})
        entry["quantity"] += quantity
        entry["lastShipped"] = when
        if row.lot:
            entry["lots"].add(lot_label(row.sku, row.lot))
    for entry in consignees.values():
        entry["lots"] = sorted(entry["lots"])
    return consignees, shipped_units


def unknown_suspects(session: Session, suspects: Suspects, dialect: str | None = None) -> dict[str, str]:
    """The suspects no recorded event names (label → why): a typo or missing data, never a silent empty scope."""
    dialect = dialect or dialect_of(session)
    missing: dict[str, str] = {}
    plain = Suspects(suspects.lots, suspects.serials)
    if plain:
        seed, params = seed_cte(dialect, plain)
        for sku, lot, epc, known in session.execute(text(KNOWN_SQL.format(seed=seed)), params):
            if not known and epc:
                missing[epc] = f"suspect serial {epc} appears in no recorded event"
            elif not known:
                missing[lot_label(sku, lot)] = f"suspect lot {lot_label(sku, lot)} appears in no recorded event"
    for serial_range in suspects.ranges:
        seed, params = seed_cte(dialect, Suspects(ranges=(serial_range,)))
        if not session.scalar(text(RANGE_SQL.format(seed=seed)), params):
            missing[serial_range.label()] = (f"serial range {serial_range.label()} matches no unit commissioned "
                                             f"under {serial_range.sku}")
    return missing


def _warnings(answer: dict[str, Any], unshipped: int) -> list[str]:
    warnings = []
    if not answer["consigneeCount"]:
        warnings.append("the scope reaches no consignee: no shipment of the suspect lots or units is recorded")
    if unshipped:
        warnings.append(f"{unshipped} of {answer['unitCount']} units in scope have no recorded shipment "
                        "(still in stock, or shipments missing)")
    unreachable = [c["id"] for c in answer["consignees"]
                   if not (c["contact"] or {}).get("email") and not (c["contact"] or {}).get("phone")]
    if unreachable:
        warnings.append(f"{len(unreachable)} of {answer['consigneeCount']} consignees have no e-mail or phone "
                        "and cannot be notified directly")
    return warnings
