"""Time of a recall scope over a million trace events (reports only, asserts nothing).

Run:   DATABASE_URL=postgresql+psycopg://… python -m bench.trace_scope [--events N] [--naive-events M] [--runs R]
       PostgreSQL when DATABASE_URL is set (the schema `loopline_bench`, made anew), else SQLite (slow to fill).

The events are filled in bulk (COPY on PostgreSQL), with their side-table rows from the same rule the model
applies (`index_rows`). Per finished lot of `--lot-size` units (default 2,000): supplier receipts of its
component lots, the transformation, commissioning in batches of 100, cases of 10, pallets of 20 cases, pallets
shipped to distributors, cases shipped to and received by retailers, half of the units sold to consumers
(a third of them with a contact), 0.5 % destroyed, and every tenth lot also shipped by quantity.

Figures: "trace_scope" — median seconds of `recall_scope` (the API and the connector run exactly this) for
one finished lot, one component lot (feeds several finished lots) and three lots at once, plus a backward
trace from a sold unit; "trace_scope_naive" — on a smaller set (`--naive-events`, default 100,000), the old
way (load every event, walk to a fixed point in Python) against the SQL scope on the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from bench.backends import Backend, fresh_database_url, sqlite_backend
from bench.rounds import emit, spread
from integrations.traceability.backward import parse_start, trace_back
from integrations.traceability.models import TraceEvent, TraceEventItem, TraceEventUnit, index_rows
from integrations.traceability.naive import naive_recall_scope
from integrations.traceability.scope import recall_scope
from integrations.traceability.suspects import parse_suspects
from orchestrator.db import Database

EVENT_COLUMNS = ("id", "kind", "action", "event_time", "biz_step", "disposition", "biz_location", "sku", "lot",
                 "quantity", "epcs", "parent", "inputs", "outputs", "destination", "destination_name",
                 "destination_kind", "contact", "source", "source_name")
UNIT_COLUMNS = ("event_id", "epc", "biz_step", "disposition")
ITEM_COLUMNS = ("event_id", "role", "sku", "lot", "epc", "quantity")
LOTS_PER_COPY = 10
START = datetime(2026, 1, 1, tzinfo=UTC)


class SupplyChain:
    """Generates the events of finished lots one by one, each a realistic life from receipt to consumer."""

    def __init__(self, lot_size: int, seed: int = 7):
        self.lot_size = lot_size
        self.rng = random.Random(seed)
        self.next_id = 1
        self.received: set[str] = set()

    def events_per_lot(self) -> float:
        units = self.lot_size
        return 1 + 1 + units / 100 + units / 10 + units / 200 + units / 200 + 2 * units / 10 + units / 2 + units / 200

    def lot(self, number: int) -> Iterator[dict[str, Any]]:
        """Every event of finished lot `number`, in time order."""
        rng, at = self.rng, START + timedelta(hours=number)
        finished = f"F{number:06d}"
        components = [("CELL", f"C{number // 4:05d}"), ("SHELL", f"H{number // 3:05d}")]
        for sku, lot in components:
            if lot not in self.received:
                self.received.add(lot)
                yield self._event(kind="object", biz_step="receiving", event_time=at, sku=sku, lot=lot,
                                  quantity=self.lot_size * 4, source=f"SUP-{rng.randrange(40):02d}",
                                  source_name="Component supplier")
        yield self._event(kind="transformation", event_time=at, outputs=[{"sku": "PHONE", "lot": finished}],
                          inputs=[{"sku": sku, "lot": lot, "quantity": self.lot_size} for sku, lot in components])
        units = [f"{finished}-{n:06d}" for n in range(self.lot_size)]
        for first in range(0, len(units), 100):
            yield self._event(kind="object", biz_step="commissioning", event_time=at, sku="PHONE", lot=finished,
                              epcs=units[first:first + 100])
        cases = []
        for first in range(0, len(units), 10):
            cases.append(f"CS-{finished}-{first // 10:05d}")
            yield self._event(kind="aggregation", action="ADD", biz_step="packing", event_time=at, parent=cases[-1],
                              epcs=units[first:first + 10])
        for first in range(0, len(cases), 20):
            pallet = f"PL-{finished}-{first // 20:04d}"
            yield self._event(kind="aggregation", action="ADD", biz_step="packing", event_time=at, parent=pallet,
                              epcs=cases[first:first + 20])
            distributor = rng.randrange(50)
            yield self._event(kind="object", biz_step="shipping", event_time=at + timedelta(days=1), parent=pallet,
                              destination=f"DIST-{distributor:03d}", destination_name=f"Distributor {distributor}",
                              destination_kind="distributor", contact={"email": f"recall@d{distributor}.example"})
        for case in cases:
            retailer = rng.randrange(2000)
            shipped = dict(event_time=at + timedelta(days=3), epcs=[case])
            yield self._event(kind="object", biz_step="shipping", destination=f"RET-{retailer:04d}",
                              destination_name=f"Shop {retailer}", destination_kind="retailer", **shipped)
            yield self._event(kind="object", biz_step="receiving", biz_location=f"RET-{retailer:04d}", **shipped)
        for unit in rng.sample(units, len(units) // 2):
            contact = {"email": f"{unit.lower()}@mail.example"} if rng.random() < 0.33 else None
            yield self._event(kind="object", biz_step="shipping", event_time=at + timedelta(days=rng.randrange(4, 90)),
                              epcs=[unit], destination=f"CUST-{unit}", destination_kind="consumer", contact=contact)
        for unit in rng.sample(units, len(units) // 200):
            yield self._event(kind="object", biz_step="destroying", disposition="destroyed",
                              event_time=at + timedelta(days=100), epcs=[unit])
        if number % 10 == 0:
            yield self._event(kind="object", biz_step="shipping", event_time=at + timedelta(days=2), sku="PHONE",
                              lot=finished, quantity=50, destination="DIST-SPARES", destination_name="Spare parts",
                              destination_kind="distributor")

    def _event(self, **values: Any) -> dict[str, Any]:
        values.setdefault("action", "OBSERVE")
        values["id"] = self.next_id
        self.next_id += 1
        return values


def rows_of(event: dict[str, Any]) -> tuple[tuple, list[tuple], list[tuple]]:
    """The trace_event row and its side-table rows, as the model would write them."""
    units, items = index_rows(event["kind"], event["action"], event.get("biz_step"), event.get("sku"),
                              event.get("lot"), event.get("epcs"), event.get("parent"), event.get("inputs"),
                              event.get("outputs"))
    row = [event.get(column) or [] if column in ("epcs", "inputs", "outputs") else event.get(column)
           for column in EVENT_COLUMNS]
    return (tuple(row), [(event["id"], epc, event.get("biz_step"), event.get("disposition")) for epc in units],
            [(event["id"], *(item[c] for c in ITEM_COLUMNS[1:])) for item in items])


def fill(db: Database, events: int, lot_size: int) -> tuple[int, int]:
    """Fill about `events` events (whole lots); the number stored and of finished lots."""
    chain = SupplyChain(lot_size)
    lots = max(1, round(events / chain.events_per_lot()))
    for first in range(0, lots, LOTS_PER_COPY):
        batch = [rows_of(event) for number in range(first, min(first + LOTS_PER_COPY, lots))
                 for event in chain.lot(number)]
        _write(db, [b[0] for b in batch], [u for b in batch for u in b[1]], [i for b in batch for i in b[2]])
    if db.is_postgres:
        with db.engine.begin() as connection:
            connection.exec_driver_sql("SELECT setval(pg_get_serial_sequence('trace_event', 'id'), "
                                       "(SELECT max(id) FROM trace_event))")
        # a settled database (autovacuum has run): statistics, and the visibility map for index-only probes
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in ("trace_event", "trace_event_unit", "trace_event_item"):
                connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
    return chain.next_id - 1, lots


def _write(db: Database, events: list[tuple], units: list[tuple], items: list[tuple]) -> None:
    if not db.is_postgres:
        with db.engine.begin() as connection:
            connection.execute(insert(TraceEvent.__table__), [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in events])
            connection.execute(insert(TraceEventUnit.__table__), [dict(zip(UNIT_COLUMNS, row, strict=True))
                                                                  for row in units])
            connection.execute(insert(TraceEventItem.__table__), [dict(zip(ITEM_COLUMNS, row, strict=True)) for row in items])
        return
    raw = db.engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for table, columns, rows in (("trace_event", EVENT_COLUMNS, events), ("trace_event_unit", UNIT_COLUMNS, units),
                                         ("trace_event_item", ITEM_COLUMNS, items)):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(tuple(_copy_value(value) for value in row))
        raw.commit()
    finally:
        raw.close()


def _copy_value(value: Any) -> Any:
    """COPY takes JSON as text and the UTC times naive, as the UTCDateTime column stores them."""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def timed(db: Database, runs: int, work) -> tuple[dict[str, float], Any]:
    samples, answer = [], None
    for _ in range(runs):
        with db.reading() as session:
            started = time.perf_counter()
            answer = work(session)
            samples.append(time.perf_counter() - started)
    return spread(samples), answer


def measure(backend: Backend, events: int, lot_size: int, runs: int) -> None:
    db = Database(fresh_database_url(backend))
    try:
        db.create_schema()
        started = time.perf_counter()
        stored, lots = fill(db, events, lot_size)
        filled = time.perf_counter() - started
        middle = lots // 2
        cases = {
            "finished_lot": parse_suspects(lots=[{"sku": "PHONE", "lot": f"F{middle:06d}"}]),
            "component_lot": parse_suspects(lots=[{"sku": "CELL", "lot": f"C{middle // 4:05d}"}]),
            "three_lots_and_a_range": parse_suspects(
                lots=[{"sku": "PHONE", "lot": f"F{n:06d}"} for n in (middle - 7, middle + 3, middle + 11)],
                ranges=[{"sku": "PHONE", "from": f"F{middle + 20:06d}-000100", "to": f"F{middle + 20:06d}-000599"}]),
        }
        for name, suspects in cases.items():
            figure, scope = timed(db, runs, lambda session, s=suspects: recall_scope(session, s))
            emit("trace_scope", backend=backend.name, events=stored, case=name, seconds=figure,
                 units=scope["unitCount"], consignees=scope["consigneeCount"], quantity=scope["quantity"],
                 warnings=len(scope["warnings"]), fill_seconds=round(filled, 1))
        start = parse_start(serial=f"F{middle:06d}-000042")
        figure, back = timed(db, runs, lambda session: trace_back(session, start))
        emit("trace_back", backend=backend.name, events=stored, seconds=figure,
             component_lots=[lot["label"] for lot in back["componentLots"]],
             suppliers=[s["id"] for s in back["suppliers"]])
    finally:
        db.dispose()


def measure_naive(backend: Backend, events: int, lot_size: int, runs: int) -> None:
    """The old in-Python scope (read every event, iterate) against the SQL scope, on the same smaller set."""
    db = Database(fresh_database_url(backend))
    try:
        db.create_schema()
        stored, lots = fill(db, events, lot_size)
        lot = {"sku": "PHONE", "lot": f"F{lots // 2:06d}"}
        suspects = parse_suspects(lots=[lot])

        def naive(session):
            return naive_recall_scope(list(session.scalars(select(TraceEvent))), [lot], [])

        naive_figure, old = timed(db, max(1, runs // 3), naive)
        sql_figure, new = timed(db, runs, lambda session: recall_scope(session, suspects))
        same = all(old[key] == new[key] for key in old)
        emit("trace_scope_naive", backend=backend.name, events=stored, naive_seconds=naive_figure,
             sql_seconds=sql_figure, same_answer=same, units=new["unitCount"])
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--naive-events", type=int, default=100_000, help="0 skips the old in-Python comparison")
    parser.add_argument("--lot-size", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="100,000 events, naive on 20,000")
    args = parser.parse_args()
    if args.quick:
        args.events, args.naive_events = 100_000, 20_000
    database_url = os.environ.get("DATABASE_URL", "")
    backend = Backend("postgres", database_url, "") if database_url.startswith("postgresql") else sqlite_backend()
    if args.naive_events:
        measure_naive(backend, args.naive_events, args.lot_size, args.runs)
    measure(backend, args.events, args.lot_size, args.runs)


if __name__ == "__main__":
    main()
