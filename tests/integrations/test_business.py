"""ERP / QMS / CRM connectors: local ledgers and the http backend (auth, Idempotency-Key, typed errors),
http.request, and the circuit breaker that pauses jobs while a system is down."""

from __future__ import annotations

from dataclasses import replace

import pytest

from integrations.config import IntegrationSettings, SystemSettings
from integrations.http_client import verify_hmac
from integrations.registry import BusinessError, JobContext
from orchestrator.models import InstanceStatus, JobStatus
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect
from tests.support.http_stub import StubServer


@pytest.fixture
def erp_server():
    server = StubServer(default=(201, {"movementId": "ERP-1", "onHand": 12}))
    yield server
    server.close()


def job(key: str, topic: str = "erp.adjust_stock") -> JobContext:
    return JobContext(1, "instance", "RMA-1", "element", topic, 1, key)


def local_engine(make_engine, database):
    engine = make_engine(database)
    deploy_fixture(engine, "erp_flow.bpmn")
    return engine


def test_local_backends_apply_each_operation_once(make_engine, sqlite_database):
    engine = local_engine(make_engine, sqlite_database)
    adjust = engine.connectors.get("erp.adjust_stock")
    first = adjust.run({"sku": "SKU-1", "quantity": 3}, job("k1"))
    assert (first["onHand"], first["duplicate"]) == (3.0, False)
    assert adjust.run({"sku": "SKU-1", "quantity": 3}, job("k1"))["duplicate"] is True  # retried: no effect
    assert adjust.run({"sku": "SKU-1", "quantity": 2}, job("k2"))["onHand"] == 5.0
    quarantine = engine.connectors.get("erp.quarantine_stock").run({"sku": "SKU-1", "quantity": 4}, job("k3"))
    assert (quarantine["quarantined"], quarantine["onHand"]) == (4.0, 1.0)
    note = engine.connectors.get("erp.create_credit_note").run({"orderNumber": "SO-1", "amount": 49.9}, job("k4"))
    assert note["creditNoteId"].startswith("CN-")
    with pytest.raises(BusinessError) as rejected:
        engine.connectors.get("erp.create_credit_note").run({"orderNumber": "SO-1", "amount": 0}, job("k5"))
    assert rejected.value.code == "E_REFUND_REJECTED"
    ticket = engine.connectors.get("qms.create_ticket").run({"title": "Cracked housing", "severity": "major"},
                                                           job("k6"))
    update = engine.connectors.get("qms.update_ticket").run({"ticketId": ticket["ticketId"], "status": "closed"},
                                                           job("k7"))
    assert update == {**update, "ticketId": ticket["ticketId"], "status": "closed"}
    assert engine.connectors.get("crm.log_activity").run({"customer": "C-1", "kind": "call"}, job("k8"))["activityId"]
    with pytest.raises(BusinessError) as missing:
        adjust.run({"quantity": "many"}, job("k9"))
    assert missing.value.code == "E_INVALID_INPUT" and "sku is required" in missing.value.message


def test_local_erp_through_the_engine(make_engine, database):
    engine = local_engine(make_engine, database)
    row = engine.instances.start_instance("restock", actor=ADMIN, variables={"sku": "SKU-9", "quantity": 2})
    assert inspect.run_pending_jobs(engine, row.id) == ["completed"]
    final = inspect.instance(engine, row.id)
    assert final.status == InstanceStatus.COMPLETED
    assert final.variables["onHand"] == 2.0 and final.variables["movementId"].startswith("SM-")


@pytest.mark.parametrize("auth", ["api_key", "hmac", "oauth2"])
def test_http_backend_sends_auth_and_the_idempotency_key(make_engine, sqlite_database, erp_server, auth):
    settings = SystemSettings(backend="http", base_url=erp_server.url, auth=auth, api_key="k-123",
                              hmac_secret="hmac-secret", oauth_token_url=f"{erp_server.url}/oauth/token",
                              oauth_client_id="loopline", oauth_client_secret="s3cret", timeout=2)
    if auth == "oauth2":
        erp_server.script(200, {"access_token": "tok-1", "expires_in": 3600})
    engine = make_engine(sqlite_database, integration_settings=IntegrationSettings(erp=settings))
    deploy_fixture(engine, "erp_flow.bpmn")
    row = engine.instances.start_instance("restock", actor=ADMIN, variables={"sku": "SKU-1", "quantity": 1})
    assert inspect.run_pending_jobs(engine, row.id) == ["completed"]
    call = erp_server.requests[-1]
    [stock_job] = inspect.jobs(engine, row.id)
    assert (call.method, call.path) == ("POST", "/stock-movements")
    assert call.headers["Idempotency-Key"] == stock_job.idempotency_key
    assert call.json() == {"location": "main", "lot": "", "quantity": 1.0, "reason": "return restock", "sku": "SKU-1"}
    if auth == "api_key":
        assert call.headers["Authorization"] == "Bearer k-123"
    elif auth == "hmac":
        assert verify_hmac("hmac-secret", call.headers["X-Loopline-Timestamp"], call.body,
                           call.headers["X-Loopline-Signature"])
    else:
        assert erp_server.requests[0].path == "/oauth/token"
        assert call.headers["Authorization"] == "Bearer tok-1"
    assert inspect.instance(engine, row.id).variables["movementId"] == "ERP-1"


def test_http_backend_maps_4xx_to_the_bpmn_error_and_5xx_to_a_retry(make_engine, sqlite_database, erp_server,
                                                                    clock):
    settings = SystemSettings(backend="http", base_url=erp_server.url, timeout=2)
    engine = make_engine(sqlite_database, integration_settings=IntegrationSettings(erp=settings))
    deploy_fixture(engine, "erp_flow.bpmn")
    erp_server.script(503)
    erp_server.script(422, {"code": "E_UNKNOWN_SKU", "message": "no such SKU"})
    row = engine.instances.start_instance("restock", actor=ADMIN, variables={"sku": "NOPE", "quantity": 1})
    assert inspect.run_pending_jobs(engine, row.id) == ["retry"]
    clock.advance(minutes=1)
    assert inspect.run_pending_jobs(engine, row.id) == ["failed"]
    assert inspect.completed_elements(engine, row.id)[-1] == "rejected"
    [failed] = inspect.jobs(engine, row.id)
    assert failed.last_error.startswith("E_UNKNOWN_SKU")
    assert {r.headers["Idempotency-Key"] for r in erp_server.requests} == {failed.idempotency_key}


def test_breaker_pauses_jobs_while_the_erp_is_down_and_drains_them_after(make_engine, sqlite_database, erp_server,
                                                                        clock):
    down = SystemSettings(backend="http", base_url=erp_server.url, timeout=2)
    engine = make_engine(sqlite_database, integration_settings=IntegrationSettings(
        erp=down, breaker_threshold=3, breaker_cooldown_seconds=60))
    deploy_fixture(engine, "erp_flow.bpmn")
    erp_server.default = (503, {"error": "maintenance"})
    rows = [engine.instances.start_instance("restock", actor=ADMIN, variables={"sku": f"S{i}", "quantity": 1})
            for i in range(8)]
    outcomes = inspect.run_pending_jobs(engine)
    assert outcomes == ["retry"] * 3 + ["paused"] * 5  # the breaker opened after 3 failures in a row
    assert engine.queries.open_incidents(ADMIN) == []
    assert [b.state for b in engine.breakers.states()] == ["open"]
    calls_while_open = len(erp_server.requests)
    clock.advance(seconds=30)
    inspect.run_pending_jobs(engine)  # the failed ones are due again, but the breaker keeps them paused
    assert len(erp_server.requests) == calls_while_open and engine.queries.open_incidents(ADMIN) == []

    erp_server.default = (201, {"movementId": "ERP-OK"})
    clock.advance(seconds=31)  # cool-down over: one probe goes through and closes the breaker
    for _ in range(3):
        inspect.run_pending_jobs(engine)
    assert [b.state for b in engine.breakers.states()] == ["closed"]
    assert all(inspect.instance(engine, r.id).status == InstanceStatus.COMPLETED for r in rows)
    jobs = [inspect.jobs(engine, r.id)[0] for r in rows]
    assert all(j.status == JobStatus.COMPLETED for j in jobs)
    assert max(j.attempts for j in jobs) <= 2  # paused jobs did not spend their retries


def test_http_request_renders_secrets_and_maps_the_result(make_engine, sqlite_database, erp_server):
    host = erp_server.url.removeprefix("http://")
    engine = make_engine(sqlite_database, integration_settings=IntegrationSettings(
        http_allowed_hosts=(host,), http_secrets={"CARRIER_TOKEN": "t0p-secret"}))
    connector = engine.connectors.get("http.request")
    erp_server.script(200, {"shipment": {"labels": [{"url": "https://labels/1.pdf"}]}})
    request = {"method": "POST", "url": erp_server.url + "/orders/{order}/label",
               "headers": {"Authorization": "Bearer {secret:CARRIER_TOKEN}"}, "body": {"order": "{order}"},
               "order": "SO 7", "resultMapping": {"labelUrl": "shipment.labels.0.url"}}
    written = {**request, "order": None}  # the model's text; `order` comes from ${order}
    result = connector.run(request, replace(job("h1", "http.request"), authored_input=written))
    assert result == {"labelUrl": "https://labels/1.pdf"}
    call = erp_server.requests[-1]
    assert call.path == "/orders/SO%207/label" and call.headers["Authorization"] == "Bearer t0p-secret"
    assert call.json() == {"order": "SO 7"} and call.headers["Idempotency-Key"] == "h1"
    with pytest.raises(BusinessError) as blocked:
        connector.run({"url": "http://169.254.169.254/latest/meta-data"}, job("h2", "http.request"))
    assert blocked.value.code == "E_HOST_NOT_ALLOWED"
