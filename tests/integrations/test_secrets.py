"""Configured secrets are used on the wire and nowhere else: not in history, jobs, incidents, instance
data, notifications or the logs — also when calls fail, are retried or are refused."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from integrations.config import IntegrationSettings, SystemSettings
from integrations.http_client import verify_hmac
from integrations.notify.models import Notification
from orchestrator.models import CircuitBreaker, HistoryEvent, Incident, Job, ProcessInstance
from tests.conftest import ADMIN, deploy_fixture
from tests.integrations.conftest import TWILIO_SID
from tests.integrations.helpers import start
from tests.integrations.test_providers import RETURN_EMAIL, RETURN_SMS
from tests.support.http_stub import StubServer
from tests.support.inspect import run_pending_jobs

ERP_API_KEY = "erp-api-key-7f3c1b9e5a"
ERP_HMAC_SECRET = "erp-hmac-secret-2d8a4c61f0"
ERP_CLIENT_SECRET = "erp-oauth-client-secret-9b0e5f27"
ERP_ACCESS_TOKEN = "erp-access-token-c4a17d30e8"  # what the client secret buys is as secret as it
TWILIO_AUTH_TOKEN = "twilio-auth-token-5e91a2c7d3b8"
SENDGRID_API_KEY = "SG.sendgrid-api-key-0c6d4f8a2e71"
SECRETS = (ERP_API_KEY, ERP_HMAC_SECRET, ERP_CLIENT_SECRET, ERP_ACCESS_TOKEN, TWILIO_AUTH_TOKEN, SENDGRID_API_KEY)


@pytest.fixture
def logs(caplog):
    """Everything every logger says, down to DEBUG (HTTP libraries log requests there)."""
    caplog.set_level(logging.DEBUG)
    return caplog


def leaks(engine, caplog, notify: bool = False) -> list[str]:
    """Each place a secret shows up, as '<place> contains <secret>'."""
    places: dict[str, object] = {}
    with engine.db.reading() as session:
        for event in session.scalars(select(HistoryEvent)):
            places[f"history event {event.seq} ({event.type})"] = event.payload
        for job in session.scalars(select(Job)):
            places[f"job {job.id}"] = {"input": job.input, "result": job.result, "last_error": job.last_error}
        for instance in session.scalars(select(ProcessInstance)):
            places[f"instance {instance.id}"] = {"variables": instance.variables, "state": instance.state}
        for incident in session.scalars(select(Incident)):
            places[f"incident {incident.id}"] = incident.message
        for breaker in session.scalars(select(CircuitBreaker)):
            places[f"breaker {breaker.system}"] = breaker.last_error
        if notify:
            for row in session.scalars(select(Notification)):
                places[f"notification {row.id}"] = {"body": row.body, "html": row.html, "error": row.error}
    places["logs"] = caplog.text
    assert len(places) > 1 and caplog.records  # there is something to scan
    return [f"{place} contains {secret}" for place, value in places.items()
            for secret in SECRETS if secret in json.dumps(value, default=str)]


@pytest.fixture
def erp_server():
    server = StubServer(default=(201, {"movementId": "ERP-1", "onHand": 12}))
    yield server
    server.close()


@pytest.mark.parametrize("auth", ["api_key", "hmac", "oauth2"])
def test_erp_credentials_never_leave_the_http_call(make_engine, sqlite_database, erp_server, clock, logs, auth):
    erp = SystemSettings(backend="http", base_url=erp_server.url, auth=auth, api_key=ERP_API_KEY,
                         hmac_secret=ERP_HMAC_SECRET, oauth_token_url=f"{erp_server.url}/oauth/token",
                         oauth_client_id="loopline", oauth_client_secret=ERP_CLIENT_SECRET, timeout=2)
    engine = make_engine(sqlite_database, integration_settings=IntegrationSettings(erp=erp))
    deploy_fixture(engine, "erp_flow.bpmn")
    if auth == "oauth2":
        erp_server.script(200, {"access_token": ERP_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})
    erp_server.script(503, {"error": "maintenance"})
    booked = engine.instances.start_instance("restock", actor=ADMIN, variables={"sku": "SKU-1", "quantity": 1})
    assert run_pending_jobs(engine, booked.id) == ["retry"]
    clock.advance(minutes=1)
    assert run_pending_jobs(engine, booked.id) == ["completed"]
    erp_server.script(422, {"code": "E_UNKNOWN_SKU", "message": "no such SKU"})
    refused = engine.instances.start_instance("restock", actor=ADMIN, variables={"sku": "NOPE", "quantity": 1})
    assert run_pending_jobs(engine, refused.id) == ["failed"]

    calls = [r for r in erp_server.requests if r.path == "/stock-movements"]
    assert len(calls) == 3
    for call in calls:  # each call really carried the credential
        if auth == "api_key":
            assert call.headers["Authorization"] == f"Bearer {ERP_API_KEY}"
        elif auth == "hmac":
            assert verify_hmac(ERP_HMAC_SECRET, call.headers["X-Loopline-Timestamp"], call.body,
                               call.headers["X-Loopline-Signature"])
        else:
            assert call.headers["Authorization"] == f"Bearer {ERP_ACCESS_TOKEN}"
    if auth == "oauth2":
        [token_request] = [r for r in erp_server.requests if r.path == "/oauth/token"]
        assert parse_qs(token_request.body.decode())["client_secret"] == [ERP_CLIENT_SECRET]
    assert leaks(engine, logs) == []


def test_twilio_and_sendgrid_credentials_never_leave_the_provider_call(notify_engine, provider_server, clock, logs):
    engine = notify_engine(twilio_auth_token=TWILIO_AUTH_TOKEN, sendgrid_api_key=SENDGRID_API_KEY)
    provider_server.script("twilio", 500)
    provider_server.script("sendgrid", 429, 401)
    sms = start(engine, "notify_customer", "RMA-2001", **RETURN_SMS)
    email = start(engine, "notify_customer", "RMA-2002", **RETURN_EMAIL)
    assert run_pending_jobs(engine) == ["retry", "retry"]
    clock.advance(seconds=10)
    assert run_pending_jobs(engine, sms.id) == ["completed"]
    assert run_pending_jobs(engine, email.id) == ["incident"]  # 401: SendGrid refuses the key

    twilio = provider_server.received("twilio")
    assert [r.status for r in twilio] == [500, 201]
    basic = base64.b64encode(f"{TWILIO_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()
    assert all(r.headers["Authorization"] == f"Basic {basic}" for r in twilio)
    sendgrid = provider_server.received("sendgrid")
    assert [r.status for r in sendgrid] == [429, 401]
    assert all(r.headers["Authorization"] == f"Bearer {SENDGRID_API_KEY}" for r in sendgrid)
    assert "'Authorization': '[redacted]'" in logs.text  # the SendGrid SDK logged its headers, key blanked
    assert leaks(engine, logs, notify=True) == []
