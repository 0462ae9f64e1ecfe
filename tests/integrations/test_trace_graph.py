"""Traceability in SQL: the recursive scope agrees with the plain fixed-point walk on random supply chains,
takes several lots, serials and serial ranges at once, warns instead of passing silently, and the backward
trace leads from a sold unit to the supplier of its component lot. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from integrations.registry import BusinessError, JobContext
from integrations.traceability.backward import parse_start, trace_back
from integrations.traceability.models import TraceEvent, TraceEventItem, TraceEventUnit
from integrations.traceability.naive import naive_recall_scope
from integrations.traceability.scope import recall_scope
from integrations.traceability.suspects import InvalidSuspects, parse_suspects
from orchestrator.db import Database
from orchestrator.migrate import upgrade
from tests.integrations.test_traceability import SUPPLY_CHAIN, at

JOB = JobContext(1, "i", "RC-1", "scope", "trace.recall_scope", 1, "k")
CORE = ("lots", "units", "unitCount", "shippedUnits", "quantity", "consignees", "consigneeCount",
        "identifiableCustomers")

RECEIPTS = [
    dict(kind="object", biz_step="receiving", event_time=at(0), sku="CELL", lot="C1", quantity=500,
         source="SUP-7", source_name="Volta Cells Ltd"),
    dict(kind="object", biz_step="receiving", event_time=at(0), sku="CELL", lot="C2", quantity=500,
         source="SUP-9", source_name="Ampere Works"),
]


def record(engine, events) -> None:
    with engine.db.transaction() as session:
        session.add_all(TraceEvent(**event) for event in events)


def random_chain(rng: random.Random) -> tuple[list[dict], list[tuple[str, str]], list[str]]:
    """A small factory: cells into phones, phones into kits (by serial), packed, shipped, some destroyed."""
    events: list[dict] = []

    def when() -> datetime:
        return datetime(2026, 2, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(5000))

    cells = [("CELL", f"C{i}") for i in range(4)]
    phones = [("PHONE", f"F{i}") for i in range(5)]
    for sku, lot in phones:
        inputs = rng.sample(cells, rng.randint(1, 2))
        events.append(dict(kind="transformation", event_time=when(), inputs=[
            {"sku": s, "lot": c, "quantity": 10} for s, c in inputs], outputs=[{"sku": sku, "lot": lot}]))
    units = []
    for sku, lot in phones:
        serials = [f"{lot}-{n:03d}" for n in range(rng.randint(0, 6))]
        units += serials
        if serials:
            events.append(dict(kind="object", biz_step="commissioning", event_time=when(), sku=sku, lot=lot,
                               epcs=serials))
    if len(units) > 2:
        kit_inputs = rng.sample(units, 2)
        events.append(dict(kind="transformation", event_time=when(), epcs=kit_inputs,
                           outputs=[{"sku": "KIT", "lot": "K1"}]))
        events.append(dict(kind="object", biz_step="commissioning", event_time=when(), sku="KIT", lot="K1",
                           epcs=["K1-001", "K1-002"]))
        units += ["K1-001", "K1-002"]
    cases = []
    for number in range(rng.randint(1, 5)):
        content = rng.sample(units, min(len(units), rng.randint(1, 4)))
        cases.append(f"CASE-{number}")
        events.append(dict(kind="aggregation", action="ADD", biz_step="packing", event_time=when(),
                           parent=f"CASE-{number}", epcs=content))
    events.append(dict(kind="aggregation", action="ADD", biz_step="packing", event_time=when(), parent="PALLET-1",
                       epcs=rng.sample(cases, min(2, len(cases)))))
    holders = units + cases + ["PALLET-1"]
    for number in range(rng.randint(3, 12)):
        destination = dict(destination=f"D{rng.randrange(6)}", destination_name=f"Consignee {number}",
                           destination_kind=rng.choice(["distributor", "retailer", "consumer"]),
                           contact=rng.choice([None, {"email": f"c{number}@example.com"}]))
        shape = rng.randrange(3)
        if shape == 0:
            shipped = dict(epcs=rng.sample(holders, min(len(holders), rng.randint(1, 3))))
        elif shape == 1:
            shipped = dict(parent=rng.choice(holders))
        else:
            sku, lot = rng.choice(phones + cells)
            shipped = dict(sku=sku, lot=lot, quantity=rng.randint(1, 50))
        events.append(dict(kind="object", biz_step="shipping", event_time=when(), **destination, **shipped))
    for serial in rng.sample(units, min(len(units), 2)):
        events.append(dict(kind="object", biz_step="destroying", disposition="destroyed", event_time=when(),
                           epcs=[serial]))
    sku, lot = rng.choice(phones)
    events.append(dict(kind="object", biz_step="destroying", event_time=when(), sku=sku, lot=lot, quantity=3))
    return events, rng.sample(cells + phones, rng.randint(1, 3)), rng.sample(units, min(len(units), rng.randint(0, 2)))


@pytest.mark.parametrize("seed", range(12))
def test_sql_scope_agrees_with_the_fixed_point_walk(make_engine, database, seed):
    engine = make_engine(database)
    rng = random.Random(seed)
    events, lots, serials = random_chain(rng)
    record(engine, events)
    suspects = parse_suspects([{"sku": s, "lot": lot} for s, lot in lots], serials)
    with engine.db.reading() as session:
        expected = naive_recall_scope(list(session.scalars(select(TraceEvent))),
                                      [{"sku": s, "lot": lot} for s, lot in lots], serials)
        got = recall_scope(session, suspects)
    assert {key: got[key] for key in CORE} == expected


def test_several_lots_serials_and_a_range_at_once(make_engine, database):
    engine = make_engine(database)
    kettles = [f"K2-{n:06d}" for n in range(95, 205)] + ["K2-00010X", "K2-0001500"]
    record(engine, SUPPLY_CHAIN + [
        dict(kind="object", biz_step="commissioning", event_time=at(1), sku="K2", lot="L-7", epcs=kettles),
        dict(kind="object", biz_step="commissioning", event_time=at(1), sku="OTHER", lot="O-1", epcs=["K2-000150X"]),
        dict(kind="object", biz_step="shipping", event_time=at(4), epcs=kettles[:10], destination="R9",
             destination_name="Kettle Shop", destination_kind="retailer", contact={"phone": "+4930123456"}),
        dict(kind="object", biz_step="shipping", event_time=at(4), epcs=["K2-000150"], destination="C-1",
             destination_kind="consumer", contact={"email": "bo@example.com"}),
    ])
    suspects = parse_suspects(
        lots=[{"sku": "CELL", "lot": "C1"}, {"sku": "PHONE", "lot": "F2"}],
        serials=["S2", "K2-000096"],
        ranges=[{"sku": "K2", "from": "K2-000100", "to": "K2-000199"}])
    with engine.db.reading() as session:
        scope = recall_scope(session, suspects)
    kettle_units = [u for u in scope["units"] if u.startswith("K2")]
    # the range: 100..199 exactly (not the odd serials that sort between the ends as text), plus K2-000096
    assert kettle_units == ["K2-000096"] + [f"K2-{n:06d}" for n in range(100, 200)]
    assert [u for u in scope["units"] if u.startswith("S")] == ["S1", "S3", "S4", "S5", "S6"]  # S2 destroyed
    by_id = {c["id"]: c for c in scope["consignees"]}
    assert by_id["R9"]["quantity"] == 6  # K2-000095..104 shipped: 096, 100..104 are suspect
    assert by_id["R2"]["quantity"] == 1  # the clean lot F2 is suspect now too
    assert scope["consigneesByKind"] == {"consumer": 2, "distributor": 2, "retailer": 3}
    assert scope["lotCount"] == 3 and scope["identifiableCustomers"] == 2
    assert scope["unknownSuspects"] == []


def test_bad_ranges_are_refused_with_the_field_at_fault():
    cases = {
        "serialRanges.0": {"sku": "K2", "from": "K2-000100", "to": "K2-0199"},
        "serialRanges.0.to": {"sku": "K2", "from": "K2-000100", "to": "K2-00019X"},
        "serialRanges.0.sku": {"from": "K2-000100", "to": "K2-000199"},
    }
    for field, entry in cases.items():
        with pytest.raises(InvalidSuspects) as refused:
            parse_suspects(ranges=[entry])
        assert refused.value.field == field
    with pytest.raises(InvalidSuspects, match="comes after"):
        parse_suspects(ranges=[{"sku": "K2", "from": "K2-000199", "to": "K2-000100"}])
    with pytest.raises(InvalidSuspects, match="differ before their trailing digits"):
        parse_suspects(ranges=[{"sku": "K2", "from": "K2-000100", "to": "K3-000199"}])


def test_an_empty_or_unknown_scope_is_said_out_loud(make_engine, database):
    engine = make_engine(database)
    record(engine, SUPPLY_CHAIN + [
        dict(kind="object", biz_step="commissioning", event_time=at(1), sku="PHONE", lot="F9", epcs=["S90"])])
    with engine.db.reading() as session:
        in_stock = recall_scope(session, parse_suspects(lots=[{"sku": "PHONE", "lot": "F9"}, {"sku": "PHONE",
                                                                                              "lot": "F404"}]))
    assert (in_stock["consigneeCount"], in_stock["unitCount"], in_stock["unknownSuspects"]) == (0, 1, ["PHONE/F404"])
    assert in_stock["warnings"] == [
        "suspect lot PHONE/F404 appears in no recorded event",
        "the scope reaches no consignee: no shipment of the suspect lots or units is recorded",
        "1 of 1 units in scope have no recorded shipment (still in stock, or shipments missing)",
    ]
    connector = engine.connectors.get("trace.recall_scope")
    with pytest.raises(BusinessError) as nothing_known:
        connector.run({"sku": "PHONE", "lot": "F404", "suspectSerials": "S404"}, JOB)
    assert nothing_known.value.code == "E_NO_TRACE_DATA" and "PHONE/F404" in nothing_known.value.message
    with pytest.raises(BusinessError) as bad_range:
        connector.run({"serialRanges": [{"sku": "K2", "from": "A1", "to": "A10"}]}, JOB)
    assert bad_range.value.code == "E_INVALID_INPUT" and "differ in length" in bad_range.value.message
    # the case's own sku + lot joins the other suspects
    both = connector.run({"sku": "CELL", "lot": "C1", "suspectLots": [{"sku": "CELL", "lot": "C2"}]}, JOB)["scope"]
    assert both["lots"] == ["CELL/C1", "CELL/C2", "PHONE/F1", "PHONE/F2"]
    # serials pasted from a form field, one per line, are taken as a list
    scope = connector.run({"suspectSerials": "S1\nS4"}, JOB)["scope"]
    assert scope["units"] == ["S1", "S4"] and scope["consigneeCount"] == 2
    assert scope["warnings"] == ["1 of 2 consignees have no e-mail or phone and cannot be notified directly"]


def test_backward_trace_finds_the_supplier_of_a_component_lot(make_engine, database):
    engine = make_engine(database)
    record(engine, RECEIPTS + SUPPLY_CHAIN)
    with engine.db.reading() as session:
        from_unit = trace_back(session, parse_start(serial="S3"))
        from_pallet = trace_back(session, parse_start(serial="PALLET-1"))
        from_lot = trace_back(session, parse_start(sku="PHONE", lot="F2"))
    [phone_lot] = from_unit["start"]["components"]
    assert (phone_lot["label"], phone_lot["via"]) == ("PHONE/F1", "commissioning")
    [cell_lot] = phone_lot["components"]
    assert (cell_lot["label"], cell_lot["via"]) == ("CELL/C1", "transformation")
    assert [(s["id"], s["name"]) for s in cell_lot["suppliers"]] == [("SUP-7", "Volta Cells Ltd")]
    assert [(entry["label"], entry["depth"], entry["leaf"]) for entry in from_unit["componentLots"]] == [
        ("PHONE/F1", 1, False), ("CELL/C1", 2, True)]
    assert from_unit["suppliers"] == [{"id": "SUP-7", "name": "Volta Cells Ltd", "lots": ["CELL/C1"]}]
    assert from_unit["warnings"] == []
    # a pallet: unpacked to cases and units, then the same lots
    assert from_pallet["start"]["type"] == "container"
    assert [c["label"] for c in from_pallet["start"]["components"]] == ["CASE-1"]
    assert [entry["label"] for entry in from_pallet["componentLots"]] == ["PHONE/F1", "CELL/C1"]
    assert from_lot["suppliers"] == [{"id": "SUP-9", "name": "Ampere Works", "lots": ["CELL/C2"]}]


def test_backward_trace_says_what_is_missing(make_engine, database):
    engine = make_engine(database)
    record(engine, SUPPLY_CHAIN)  # no receiving events
    with engine.db.reading() as session:
        no_receipt = trace_back(session, parse_start(serial="S1"))
        unknown = trace_back(session, parse_start(serial="S404"))
    assert no_receipt["warnings"] == ["no receiving event names the supplier of 1 component lot(s): CELL/C1"]
    assert unknown["warnings"] == ["suspect serial S404 appears in no recorded event"]
    with pytest.raises(InvalidSuspects, match="either a serial or a sku"):
        parse_start(serial="S1", lot="F1")


def test_the_migration_back_fills_recorded_events(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "e5a7c3b19d04")  # the schema before the side tables
    database = Database(url)
    columns = ("kind", "action", "event_time", "biz_step", "sku", "lot", "quantity", "epcs", "parent", "inputs",
               "outputs", "destination")
    with database.engine.begin() as connection:
        for event in SUPPLY_CHAIN:
            row = {name: event.get(name) for name in columns}
            row.update(action=event.get("action", "OBSERVE"), event_time=event["event_time"].replace(tzinfo=None))
            for name in ("epcs", "inputs", "outputs"):
                row[name] = json.dumps(event.get(name) or [])
            connection.execute(text(
                f"INSERT INTO trace_event ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"), row)
    upgrade(url)
    with database.engine.connect() as connection:
        units = connection.execute(select(TraceEventUnit.epc)).scalars().all()
        items = connection.execute(select(TraceEventItem.role, TraceEventItem.epc, TraceEventItem.lot)).all()
    assert sorted(set(units)) == ["CASE-1", "S1", "S2", "S3", "S4", "S5", "S6"]
    assert ("parent", "PALLET-1", "") in items and ("input", "", "C1") in items and ("output", "S4", "") in items
    with database.reading() as session:
        scope = recall_scope(session, parse_suspects(lots=[{"sku": "CELL", "lot": "C1"}]))
    assert (scope["units"], scope["quantity"]) == (["S1", "S3", "S4"], 103)
    database.dispose()
