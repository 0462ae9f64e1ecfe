"""An ERP posts trace events (re-sending is harmless); a recall coordinator asks for the scope."""

from __future__ import annotations

from tests.integrations.test_traceability import SUPPLY_CHAIN

API_NAMES = {"event_time": "eventTime", "biz_step": "bizStep", "destination_name": "destinationName",
             "destination_kind": "destinationKind"}


def as_api(event: dict, index: int) -> dict:
    body = {API_NAMES.get(k, k): v for k, v in event.items()}
    body["eventTime"] = event["event_time"].isoformat()
    body["eventId"] = f"evt-{index}"
    return body


def test_events_in_scope_out(as_):
    events = [as_api(e, i) for i, e in enumerate(SUPPLY_CHAIN)]
    erp = as_("carrier")
    first = erp.post("/api/v1/trace-events", json={"events": events})
    assert (first.status_code, first.get_json()) == (201, {"stored": len(events)})
    again = erp.post("/api/v1/trace-events", json={"events": events + [events[0]]})
    assert again.get_json() == {"stored": 0}
    bad = erp.post("/api/v1/trace-events", json={"events": [{"kind": "teleport", "eventTime": "yesterday"}]})
    assert bad.status_code == 422 and {"events.0.kind", "events.0.eventTime"} <= set(bad.get_json()["errors"])

    assert as_("clerk").post("/api/v1/recall-scope", json={"suspectLots": []}).status_code == 403
    scope = as_("auditor").post("/api/v1/recall-scope", json={"suspectLots": [{"sku": "CELL", "lot": "C1"}]})
    assert scope.status_code == 200
    body = scope.get_json()
    assert body["units"] == ["S1", "S3", "S4"] and body["consigneeCount"] == 4 and body["quantity"] == 103
