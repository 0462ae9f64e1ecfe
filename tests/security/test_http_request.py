"""Issue 10, items 4 and 5: `http.request` never follows a redirect (so credentials and replies stay with
allowed hosts), the ERP/QMS/CRM http backends neither, and `{secret:…}` is filled only in what the model
author wrote, never in values that came from process variables (a starter's data stays data)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from integrations.config import IntegrationSettings, SystemSettings
from orchestrator.definitions import ModelFile
from orchestrator.models import HistoryEvent, Incident, InstanceStatus, Job, JobStatus
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect

TOKEN = "carrier-token-4b7d19e2c6"
API_KEY = "carrier-api-key-81f0a3d5"
ERP_API_KEY = "erp-api-key-5c2e8a71"
ERP_CLIENT_SECRET = "erp-client-secret-3f9b6d04"
CAMUNDA = 'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LoopbackServer:
    """Echoes each request's path, X- headers and body as JSON, or answers `redirect_status` with a Location."""

    redirect_to: str | None = None
    redirect_status: int = 302
    received: list[Received] = field(default_factory=list)

    def __post_init__(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Received(self.command, self.path, dict(self.headers.items()), body)
                server.received.append(request)
                if server.redirect_to:
                    self.send_response(server.redirect_status)
                    self.send_header("Location", server.redirect_to + self.path)
                    payload = b""
                else:
                    self.send_response(200)
                    echoed = {name: value for name, value in request.headers.items() if name.startswith("X-")}
                    payload = json.dumps({"echo": {"path": request.path, "headers": echoed,
                                                   "body": body.decode()}}).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers():
    """`servers()` starts another loopback server; all are closed after the test."""
    started: list[LoopbackServer] = []

    def start(**options) -> LoopbackServer:
        started.append(LoopbackServer(**options))
        return started[-1]

    yield start
    for server in started:
        server.close()


def http_call_model(input_output: str) -> ModelFile:
    """A process that makes one `http.request` call configured by `input_output` and keeps the reply."""
    return ModelFile("http_call.bpmn", f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" {CAMUNDA}
                  id="http_call_defs" targetNamespace="http://loopline.dev/test">
  <bpmn:process id="http_call" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="call" camunda:type="external" camunda:topic="http.request">
      <bpmn:extensionElements>{input_output}</bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="done"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call" />
    <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>""")


def call_with_credentials(url: str) -> str:
    """What a model author writes: a POST whose headers carry two secrets, one of them not `Authorization`."""
    return f"""<camunda:inputOutput>
      <camunda:inputParameter name="method">POST</camunda:inputParameter>
      <camunda:inputParameter name="url">{url}/shipments</camunda:inputParameter>
      <camunda:inputParameter name="headers"><camunda:map>
        <camunda:entry key="Authorization">Bearer {{secret:CARRIER_TOKEN}}</camunda:entry>
        <camunda:entry key="X-Api-Key">{{secret:CARRIER_API_KEY}}</camunda:entry>
      </camunda:map></camunda:inputParameter>
      <camunda:inputParameter name="body"><camunda:map>
        <camunda:entry key="order">${{order}}</camunda:entry>
      </camunda:map></camunda:inputParameter>
    </camunda:inputOutput>"""


def http_engine(make_engine, database, allowed: LoopbackServer, model: ModelFile):
    engine = make_engine(database, integration_settings=IntegrationSettings(
        http_allowed_hosts=(allowed.host,), http_secrets={"CARRIER_TOKEN": TOKEN, "CARRIER_API_KEY": API_KEY}))
    engine.deployments.deploy([model], actor=ADMIN)
    return engine


def stored_text(engine, instance_id: str) -> str:
    """Everything the database keeps about the instance: variables, state, jobs, history, incidents."""
    with engine.db.reading() as session:
        instance = inspect.instance(engine, instance_id)
        rows = [instance.variables, instance.state]
        rows += [[job.input, job.result, job.last_error]
                 for job in session.scalars(select(Job).where(Job.instance_id == instance_id))]
        rows += [event.payload for event in session.scalars(
            select(HistoryEvent).where(HistoryEvent.instance_id == instance_id))]
        rows += [incident.message for incident in session.scalars(
            select(Incident).where(Incident.instance_id == instance_id))]
    return json.dumps(rows, default=str)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_http_request_does_not_follow_a_redirect_off_the_allow_list(make_engine, sqlite_database, servers, status):
    elsewhere = servers()  # on a port that is not in LOOPLINE_HTTP_ALLOWED_HOSTS
    allowed = servers(redirect_to=elsewhere.url, redirect_status=status)
    engine = http_engine(make_engine, sqlite_database, allowed, http_call_model(call_with_credentials(allowed.url)))
    started = engine.instances.start_instance("http_call", actor=ADMIN, variables={"order": "SO-7"})

    assert inspect.run_pending_jobs(engine, started.id) == ["incident"]  # refused at once, no retries

    [call] = allowed.received
    assert call.headers["Authorization"] == f"Bearer {TOKEN}" and call.headers["X-Api-Key"] == API_KEY
    assert elsewhere.received == []  # neither the credentials nor the body went on
    [job] = inspect.jobs(engine, started.id)
    assert job.status == JobStatus.INCIDENT and job.attempts == 1
    assert job.last_error.startswith("E_HTTP_REDIRECT: ")
    assert f"{allowed.host} answered {status}" in job.last_error and elsewhere.url in job.last_error
    assert "redirects are not followed" in job.last_error
    assert "/shipments" not in job.last_error  # where it pointed, not the path and query it carried
    variables = inspect.instance(engine, started.id).variables
    assert "response" not in variables and "echo" not in json.dumps(variables)
    assert TOKEN not in stored_text(engine, started.id) and API_KEY not in stored_text(engine, started.id)


def test_a_redirect_is_a_bpmn_error_a_boundary_event_can_catch(make_engine, sqlite_database, servers):
    allowed = servers(redirect_to=servers().url)
    model = http_call_model(call_with_credentials(allowed.url)).content.replace(
        '<bpmn:endEvent id="done">',
        '<bpmn:boundaryEvent id="redirected" attachedToRef="call"><bpmn:outgoing>f3</bpmn:outgoing>'
        '<bpmn:errorEventDefinition errorRef="redirect_error" /></bpmn:boundaryEvent>'
        '<bpmn:endEvent id="gave_up"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>'
        '<bpmn:sequenceFlow id="f3" sourceRef="redirected" targetRef="gave_up" />'
        '<bpmn:endEvent id="done">').replace(
        "</bpmn:process>", '</bpmn:process><bpmn:error id="redirect_error" errorCode="E_HTTP_REDIRECT" />')
    engine = http_engine(make_engine, sqlite_database, allowed, ModelFile("http_call.bpmn", model))
    started = engine.instances.start_instance("http_call", actor=ADMIN, variables={"order": "SO-7"})

    assert inspect.run_pending_jobs(engine, started.id) == ["failed"]
    assert inspect.instance(engine, started.id).status == InstanceStatus.COMPLETED
    assert inspect.completed_elements(engine, started.id)[-1] == "gave_up"


@pytest.mark.parametrize("status", [302, 307])
def test_erp_http_backend_does_not_follow_a_redirect(make_engine, sqlite_database, servers, status):
    elsewhere = servers()
    erp = servers(redirect_to=elsewhere.url, redirect_status=status)
    settings = SystemSettings(backend="http", base_url=erp.url, auth="api_key", api_key=ERP_API_KEY, timeout=2)
    engine = make_engine(sqlite_database, integration_settings=IntegrationSettings(erp=settings))
    deploy_fixture(engine, "erp_flow.bpmn")
    started = engine.instances.start_instance("restock", actor=ADMIN, variables={"sku": "SKU-1", "quantity": 1})

    assert inspect.run_pending_jobs(engine, started.id) == ["retry"]  # the ERP is misconfigured: retried, then an incident

    [call] = erp.received
    assert call.headers["Authorization"] == f"Bearer {ERP_API_KEY}"
    assert elsewhere.received == []
    [job] = inspect.jobs(engine, started.id)
    assert f"erp answered {status}" in job.last_error and "redirects are not followed" in job.last_error
    assert elsewhere.url in job.last_error


def test_erp_oauth_token_request_does_not_follow_a_redirect(make_engine, sqlite_database, servers):
    """A 307 would re-send the client secret in the form body to wherever it points."""
    elsewhere = servers()
    token_endpoint = servers(redirect_to=elsewhere.url, redirect_status=307)
    erp = servers()
    settings = SystemSettings(backend="http", base_url=erp.url, auth="oauth2", oauth_token_url=f"{token_endpoint.url}/token",
                              oauth_client_id="loopline", oauth_client_secret=ERP_CLIENT_SECRET, timeout=2)
    engine = make_engine(sqlite_database, integration_settings=IntegrationSettings(erp=settings))
    deploy_fixture(engine, "erp_flow.bpmn")
    started = engine.instances.start_instance("restock", actor=ADMIN, variables={"sku": "SKU-1", "quantity": 1})

    assert inspect.run_pending_jobs(engine, started.id) == ["retry"]

    assert ERP_CLIENT_SECRET.encode() in token_endpoint.received[0].body
    assert elsewhere.received == [] and erp.received == []
    assert "token endpoint answered 307" in inspect.jobs(engine, started.id)[0].last_error


SECRET_REFERENCE = "{secret:CARRIER_TOKEN}"


def test_a_secret_reference_in_a_starters_variable_is_sent_as_literal_text(make_engine, sqlite_database, servers):
    allowed = servers()
    model = http_call_model(f"""<camunda:inputOutput>
      <camunda:inputParameter name="method">POST</camunda:inputParameter>
      <camunda:inputParameter name="url">{allowed.url}/notes/{{note}}</camunda:inputParameter>
      <camunda:inputParameter name="note">${{note}}</camunda:inputParameter>
      <camunda:inputParameter name="headers"><camunda:map>
        <camunda:entry key="Authorization">Bearer {{secret:CARRIER_TOKEN}}</camunda:entry>
        <camunda:entry key="X-Note">${{note}}</camunda:entry>
        <camunda:entry key="X-Note-Placeholder">note: {{note}}</camunda:entry>
      </camunda:map></camunda:inputParameter>
      <camunda:inputParameter name="body"><camunda:map>
        <camunda:entry key="note">${{note}}</camunda:entry>
        <camunda:entry key="text">note: {{note}}</camunda:entry>
      </camunda:map></camunda:inputParameter>
    </camunda:inputOutput>""")
    engine = http_engine(make_engine, sqlite_database, allowed, model)
    started = engine.instances.start_instance("http_call", actor=ADMIN, variables={"note": SECRET_REFERENCE})

    assert inspect.run_pending_jobs(engine, started.id) == ["completed"]

    [call] = allowed.received
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"  # the model's own text still gets the secret
    assert call.headers["X-Note"] == SECRET_REFERENCE
    assert call.headers["X-Note-Placeholder"] == f"note: {SECRET_REFERENCE}"
    assert json.loads(call.body) == {"note": SECRET_REFERENCE, "text": f"note: {SECRET_REFERENCE}"}
    assert call.path == "/notes/%7Bsecret%3ACARRIER_TOKEN%7D"
    reply = inspect.instance(engine, started.id).variables["response"]["echo"]  # what the starter can read
    assert reply["headers"]["X-Note"] == SECRET_REFERENCE and json.loads(reply["body"])["note"] == SECRET_REFERENCE
    assert TOKEN not in stored_text(engine, started.id)


def test_without_input_parameters_variables_are_sent_as_given(make_engine, sqlite_database, servers):
    """A task that maps nothing gets every variable; none of them is the model's text, so none is filled."""
    allowed = servers()
    engine = http_engine(make_engine, sqlite_database, allowed, http_call_model(""))
    started = engine.instances.start_instance("http_call", actor=ADMIN, variables={
        "method": "POST", "url": f"{allowed.url}/notes", "headers": {"X-Token": SECRET_REFERENCE},
        "body": {"note": SECRET_REFERENCE, "order": "{order}"}, "order": "SO-7"})

    assert inspect.run_pending_jobs(engine, started.id) == ["completed"]

    [call] = allowed.received
    assert call.headers["X-Token"] == SECRET_REFERENCE
    assert json.loads(call.body) == {"note": SECRET_REFERENCE, "order": "{order}"}
    assert TOKEN not in stored_text(engine, started.id)
