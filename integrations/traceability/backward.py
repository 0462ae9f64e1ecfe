"""Backward trace (root cause): from a unit, a container or a finished lot back through packing,
commissioning and transformations to the component lots, and from their receiving events to the suppliers.

The walk is the forward graph read the other way (output → input, container → contents) in one recursive
statement; each row is an edge, so a component used twice or a cycle in bad data still ends.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from sqlalchemy import Float, String, text
from sqlalchemy.orm import Session

from integrations.db import UTCDateTime
from integrations.traceability.graph import dialect_of, lot_label, run_walk, seed_cte
from integrations.traceability.scope import unknown_suspects
from integrations.traceability.suspects import InvalidSuspects, Suspects, parse_suspects

MAX_EDGES = 20_000  # a pallet of pallets stays readable; past this the answer says it was cut
MAX_TREE_NODES = 2_000

BACK_CTE = """
WITH RECURSIVE {seed},
back(sku, lot, epc, from_sku, from_lot, from_epc, via) AS (
    SELECT sku, lot, epc, CAST('' AS TEXT), CAST('' AS TEXT), CAST('' AS TEXT), CAST('' AS TEXT) FROM seed
    UNION
    SELECT CAST(i.sku AS TEXT), CAST(i.lot AS TEXT), CAST(i.epc AS TEXT), b.sku, b.lot, b.epc, CAST(o.role AS TEXT)
    FROM back b
    JOIN trace_event_item o ON o.epc = b.epc AND o.lot = b.lot AND o.sku = b.sku AND o.role IN ('output', 'parent')
    JOIN trace_event_item i ON i.event_id = o.event_id
     AND i.role = CASE o.role WHEN 'output' THEN 'input' ELSE 'child' END
)
"""
EDGES_SQL = BACK_CTE + "SELECT sku, lot, epc, from_sku, from_lot, from_epc, via FROM back LIMIT :limit"
RECEIPTS_SQL = BACK_CTE + """,
nodes AS (SELECT DISTINCT sku, lot, epc FROM back)
SELECT n.sku, n.lot, n.epc, e.source, e.source_name, e.event_time, e.quantity
FROM nodes n JOIN trace_event e ON e.lot = n.lot AND COALESCE(e.sku, '') = n.sku
WHERE n.epc = '' AND e.biz_step = 'receiving'
UNION ALL
SELECT n.sku, n.lot, n.epc, e.source, e.source_name, e.event_time, e.quantity
FROM nodes n JOIN trace_event_unit u ON u.epc = n.epc JOIN trace_event e ON e.id = u.event_id
WHERE n.epc <> '' AND e.biz_step = 'receiving'
"""
RECEIPT_TYPES = dict(sku=String(), lot=String(), epc=String(), source=String(), source_name=String(),
                     event_time=UTCDateTime(), quantity=Float())

Node = tuple[str, str, str]  # (sku, lot, epc)


def parse_start(serial: Any = None, sku: Any = None, lot: Any = None) -> Suspects:
    """Where a backward trace starts: one `serial` (unit, case or pallet id) or one `sku` + `lot`."""
    if serial and (sku or lot):
        raise InvalidSuspects("serial", "give either a serial or a sku + lot, not both")
    if serial:
        return parse_suspects(serials=[serial])
    if not lot:
        raise InvalidSuspects("lot" if sku else "serial", "give a serial, or a lot with its sku")
    return parse_suspects(lots=[{"sku": sku, "lot": lot}])


def trace_back(session: Session, start: Suspects) -> dict[str, Any]:
    """The components of `start` as a tree and as a flat list of lots, with the suppliers that delivered them."""
    dialect = dialect_of(session)
    seed, params = seed_cte(dialect, start)
    edges = run_walk(session, text(EDGES_SQL.format(seed=seed)), {**params, "limit": MAX_EDGES + 1})
    receipts = run_walk(session, text(RECEIPTS_SQL.format(seed=seed)).columns(**RECEIPT_TYPES), params)

    roots = [(sku, lot, "") for sku, lot in start.lots] + [("", "", serial) for serial in start.serials]
    components: dict[Node, list[tuple[Node, str]]] = defaultdict(list)
    for sku, lot, epc, from_sku, from_lot, from_epc, via in edges[:MAX_EDGES]:
        if via:
            components[(from_sku, from_lot, from_epc)].append(((sku, lot, epc), via))
    suppliers_of: dict[Node, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(receipts, key=lambda r: r.event_time):
        suppliers_of[(row.sku, row.lot, row.epc)].append({
            "id": row.source, "name": row.source_name, "receivedAt": row.event_time.isoformat(),
            "quantity": row.quantity})

    tree = _Tree(components, suppliers_of)
    built = [tree.build(root, None) for root in roots]
    lots = _component_lots(roots, components, suppliers_of)
    warnings = list(unknown_suspects(session, start, dialect).values())
    if not components and not warnings:
        warnings.append("no packing, commissioning or transformation event leads back from "
                        f"{_label(roots[0])}: it has no recorded components")
    unsupplied = [entry["label"] for entry in lots if entry["leaf"] and not entry["suppliers"]]
    if unsupplied:
        warnings.append(f"no receiving event names the supplier of {len(unsupplied)} component lot(s): "
                        + ", ".join(unsupplied[:20]) + (" …" if len(unsupplied) > 20 else ""))
    if len(edges) > MAX_EDGES or tree.cut:
        warnings.append(f"the trace is larger than shown: cut at {MAX_EDGES} links / {MAX_TREE_NODES} tree nodes")
    return {"start": built[0] if len(built) == 1 else built, "componentLots": lots,
            "suppliers": _suppliers(lots), "warnings": warnings}


def _label(node: Node) -> str:
    sku, lot, epc = node
    return epc or lot_label(sku, lot)


def _via(node: Node, parent: Node, role: str) -> str:
    if role == "parent":
        return "packing"  # the parent is a case or pallet: this node was packed into it
    return "commissioning" if parent[2] and not node[2] else "transformation"


class _Tree:
    """Nested components, each node expanded once (a later mention says `repeated`), at most MAX_TREE_NODES."""

    def __init__(self, components: dict[Node, list[tuple[Node, str]]], suppliers: dict[Node, list[dict[str, Any]]]):
        self.components, self.suppliers = components, suppliers
        self.expanded: set[Node] = set()
        self.count, self.cut = 0, False

    def build(self, node: Node, via: str | None) -> dict[str, Any]:
        self.count += 1
        sku, lot, epc = node
        children = self.components.get(node, [])
        kind = "lot" if not epc else "container" if any(role == "parent" for _, role in children) else "unit"
        entry: dict[str, Any] = {"type": kind, "label": _label(node)}
        entry.update({"sku": sku, "lot": lot} if kind == "lot" else {"serial": epc})
        if via:
            entry["via"] = via
        entry["suppliers"] = self.suppliers.get(node, [])
        if node in self.expanded:
            entry["repeated"] = True
            return entry
        self.expanded.add(node)
        entry["components"] = []
        for child, role in sorted(children, key=lambda c: _label(c[0])):
            if self.count >= MAX_TREE_NODES:
                self.cut = True
                break
            entry["components"].append(self.build(child, _via(child, node, role)))
        return entry


def _component_lots(roots: list[Node], components: dict[Node, list[tuple[Node, str]]],
                    suppliers: dict[Node, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every lot behind the start (nearest first), what it went into and who supplied it."""
    depth: dict[Node, int] = {root: 0 for root in roots}
    used_in: dict[Node, set[str]] = defaultdict(set)
    queue = deque(roots)
    while queue:
        node = queue.popleft()
        for child, _ in components.get(node, []):
            used_in[child].add(_label(node))
            if child not in depth:
                depth[child] = depth[node] + 1
                queue.append(child)
    lots = [node for node in depth if not node[2] and node not in roots]
    return [{"sku": sku, "lot": lot, "label": lot_label(sku, lot), "depth": depth[(sku, lot, "")],
             "usedIn": sorted(used_in[(sku, lot, "")]), "leaf": not components.get((sku, lot, "")),
             "suppliers": suppliers.get((sku, lot, ""), [])}
            for sku, lot, _ in sorted(lots, key=lambda n: (depth[n], n))]


def _suppliers(lots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each supplier named by a receipt once, with the component lots it delivered."""
    found: dict[str, dict[str, Any]] = {}
    for entry in lots:
        for receipt in entry["suppliers"]:
            if not receipt["id"]:
                continue
            supplier = found.setdefault(receipt["id"], {"id": receipt["id"], "name": receipt["name"], "lots": []})
            if entry["label"] not in supplier["lots"]:
                supplier["lots"].append(entry["label"])
    return sorted(found.values(), key=lambda s: s["id"])
