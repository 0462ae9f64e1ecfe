"""Over the API and the page: a receipt names the supplier, the backward trace finds it; the scope preview counts
and warns; malformed suspects and starts are refused by field."""

from __future__ import annotations

from integrations.traceability.models import TraceEvent
from tests.integrations.test_trace_graph import RECEIPTS
from tests.integrations.test_traceability import SUPPLY_CHAIN
from tests.web.test_audit_exports import signed_in
from tests.web.test_traceability_api import as_api
from web.auth.demo import seed_demo_users


def test_trace_back_and_scope_preview(as_):
    receipts = [{**as_api(e, 100 + i), "sourceName": e["source_name"]} for i, e in enumerate(RECEIPTS)]
    for receipt in receipts:
        receipt.pop("source_name")
    events = receipts + [as_api(e, i) for i, e in enumerate(SUPPLY_CHAIN)]
    assert as_("carrier").post("/api/v1/trace-events", json={"events": events}).status_code == 201
    reader = as_("auditor")

    back = reader.get("/api/v1/trace-back?serial=S3")
    assert back.status_code == 200
    body = back.get_json()
    assert body["suppliers"] == [{"id": "SUP-7", "name": "Volta Cells Ltd", "lots": ["CELL/C1"]}]
    assert [(lot["label"], lot["leaf"]) for lot in body["componentLots"]] == [("PHONE/F1", False), ("CELL/C1", True)]
    assert body["start"]["components"][0]["components"][0]["suppliers"][0]["receivedAt"].startswith("2026-03-01T08")
    assert as_("clerk").get("/api/v1/trace-back?serial=S3").status_code == 403
    both = reader.get("/api/v1/trace-back?serial=S3&lot=F1")
    assert both.status_code == 422 and both.get_json()["errors"] == {
        "serial": "give either a serial or a sku + lot, not both"}

    preview = reader.post("/api/v1/recall-scope", json={
        "suspectLots": [{"sku": "CELL", "lot": "C1"}, {"sku": "CELL", "lot": "C404"}]}).get_json()
    assert (preview["lotCount"], preview["consigneeCount"], preview["consigneesByKind"]) == (
        3, 4, {"consumer": 1, "distributor": 2, "retailer": 1})
    assert preview["unknownSuspects"] == ["CELL/C404"]
    assert preview["warnings"][0] == "suspect lot CELL/C404 appears in no recorded event"

    bad = reader.post("/api/v1/recall-scope", json={"serialRanges": [{"sku": "K2", "from": "K2-9", "to": "K2-10"}]})
    assert bad.status_code == 422 and list(bad.get_json()["errors"]) == ["serialRanges.0"]
    empty = reader.post("/api/v1/recall-scope", json={})
    assert empty.status_code == 422 and "at least one suspect" in empty.get_json()["detail"]


def test_the_traceability_page_previews_and_traces_back(app, web_engine):
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    with web_engine.db.transaction() as session:
        session.add_all(TraceEvent(**event) for event in RECEIPTS + SUPPLY_CHAIN)
    auditor = signed_in(app, "auditor@demo.loopline")

    page = auditor.get("/traceability/scope", query_string={"lots": "CELL/C1\nCELL C404", "serials": "S6"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="scope-result"' in html
    assert "suspect lot CELL/C404 appears in no recorded event" in html and "Clean Shop" in html
    back = auditor.get("/traceability/scope", query_string={"do": "back", "serial": "S3"}).get_data(as_text=True)
    assert "Volta Cells Ltd" in back and "CELL/C1" in back
    refused = auditor.get("/traceability/scope", query_string={"ranges": "K2 K2-1"})
    assert refused.status_code == 422 and "write SKU FROM TO" in refused.get_data(as_text=True)
    clerk = signed_in(app, "customer.service@demo.loopline")
    assert clerk.get("/traceability/scope").status_code == 403
