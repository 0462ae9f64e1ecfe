"""Recall scope over EPCIS-style events: forward through transformations and packing to shipments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from integrations.registry import BusinessError, JobContext
from integrations.traceability.models import TraceEvent

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


SUPPLY_CHAIN = [
    # the suspect component lot C1 goes into finished lot F1; C2 into F2 (clean)
    dict(kind="transformation", event_time=at(1), inputs=[{"sku": "CELL", "lot": "C1", "quantity": 500}],
         outputs=[{"sku": "PHONE", "lot": "F1", "quantity": 500}]),
    dict(kind="transformation", event_time=at(1), inputs=[{"sku": "CELL", "lot": "C2", "quantity": 500}],
         outputs=[{"sku": "PHONE", "lot": "F2", "quantity": 500}]),
    dict(kind="object", biz_step="commissioning", event_time=at(2), sku="PHONE", lot="F1",
         epcs=["S1", "S2", "S3", "S4"]),
    dict(kind="object", biz_step="commissioning", event_time=at(2), sku="PHONE", lot="F2", epcs=["S5", "S6"]),
    # packing: CASE-1 = S1, S2; CASE-2 = S3 + a clean S5; PALLET-1 = CASE-1
    dict(kind="aggregation", action="ADD", biz_step="packing", event_time=at(3), parent="CASE-1", epcs=["S1", "S2"]),
    dict(kind="aggregation", action="ADD", biz_step="packing", event_time=at(3), parent="CASE-2", epcs=["S3", "S5"]),
    dict(kind="aggregation", action="ADD", biz_step="packing", event_time=at(4), parent="PALLET-1",
         epcs=["CASE-1"]),
    dict(kind="object", biz_step="shipping", event_time=at(5), parent="PALLET-1", destination="D1",
         destination_name="North Distribution", destination_kind="distributor"),
    dict(kind="object", biz_step="shipping", event_time=at(6), parent="CASE-2", destination="R1",
         destination_name="Corner Shop", destination_kind="retailer"),
    dict(kind="object", biz_step="shipping", event_time=at(7), epcs=["S4"], destination="C-9",
         destination_name="Ada", destination_kind="consumer", contact={"email": "ada@example.com"}),
    dict(kind="object", biz_step="shipping", event_time=at(8), sku="PHONE", lot="F1", quantity=100,
         destination="D2", destination_name="South Distribution", destination_kind="distributor"),
    dict(kind="object", biz_step="shipping", event_time=at(8), epcs=["S6"], destination="R2",
         destination_name="Clean Shop", destination_kind="retailer"),
    dict(kind="object", biz_step="destroying", disposition="destroyed", event_time=at(9), epcs=["S2"]),
]


def test_scope_follows_the_chain_to_consignees(make_engine, sqlite_database):
    engine = make_engine(sqlite_database)
    with engine.db.transaction() as session:
        session.add_all(TraceEvent(**event) for event in SUPPLY_CHAIN)
    connector = engine.connectors.get("trace.recall_scope")
    scope = connector.run({"suspectLots": [{"sku": "CELL", "lot": "C1"}]},
                          JobContext(1, "i", "RC-1", "scope", "trace.recall_scope", 1, "k"))["scope"]
    assert scope["lots"] == ["CELL/C1", "PHONE/F1"]
    assert scope["units"] == ["S1", "S3", "S4"]  # S2 was destroyed, S5/S6 are from the clean lot
    by_id = {c["id"]: c for c in scope["consignees"]}
    assert sorted(by_id) == ["C-9", "D1", "D2", "R1"]
    assert by_id["D1"]["quantity"] == 1  # the pallet held CASE-1 with S1 (S2 destroyed)
    assert by_id["R1"]["quantity"] == 1  # CASE-2 held one suspect unit among clean ones
    assert by_id["D2"]["quantity"] == 100  # a lot-level shipment
    assert by_id["C-9"]["contact"] == {"email": "ada@example.com"} and scope["identifiableCustomers"] == 1
    assert scope["quantity"] == 103
    assert by_id["D1"]["firstShipped"].startswith("2026-03-01T13:00")

    try:
        connector.run({}, JobContext(1, "i", "RC-1", "scope", "trace.recall_scope", 1, "k"))
    except BusinessError as exc:
        assert exc.code == "E_INVALID_INPUT"
    else:
        raise AssertionError("empty input must be refused")
