"""Camunda 7 external-task clients against Loopline's /engine-rest, over real HTTP.

The worker is the published Python client (`camunda.external_task`), used unchanged; what it cannot send
(extendLock, unlock, a second worker racing) is sent as raw requests following the Camunda 7 REST reference.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest
import requests
from camunda.external_task.external_task_worker import ExternalTaskWorker
from werkzeug.serving import make_server

from orchestrator.camunda_variables import from_camunda, to_camunda
from orchestrator.definitions import ModelFile
from orchestrator.errors import InvalidInput, InvalidModel
from orchestrator.external_tasks import ExternalTasks
from orchestrator.job_bell import JobBell
from orchestrator.models import Incident, InstanceStatus, JobStatus
from tests.conftest import ADMIN, require_service
from tests.support import inspect
from web.app import create_app
from web.auth.apikeys import create_api_key
from web.auth.users import ensure_roles_and_groups
from web.extensions import db

TOPIC = "label.print"
MODEL = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="label_defs" targetNamespace="http://loopline.dev/test">
  <bpmn:error id="err_stock" name="Out of stock" errorCode="E_NO_STOCK" />
  <bpmn:process id="ship_label" name="Print a shipping label" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="print_label" name="Print label" camunda:type="external" camunda:topic="{TOPIC}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:boundaryEvent id="no_stock" attachedToRef="print_label">
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:errorEventDefinition id="no_stock_def" errorRef="err_stock" />
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="printed_end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="no_stock_end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="print_label" />
    <bpmn:sequenceFlow id="f2" sourceRef="print_label" targetRef="printed_end" />
    <bpmn:sequenceFlow id="f3" sourceRef="no_stock" targetRef="no_stock_end" />
  </bpmn:process>
</bpmn:definitions>
"""
KEYS = {"printer": ("integration", []), "packer": ("staff", ["warehouse"]), "auditor": ("auditor", [])}


class Loopline:
    """A Loopline web process on a real port, its engine, the woken job ids and API keys by persona."""

    def __init__(self, engine, app, tokens):
        self.engine, self.app, self.tokens = engine, app, tokens
        self.woken: list[int] = []
        engine.wake = self.woken.extend
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/engine-rest"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def start(self, **variables):
        return self.engine.instances.start_instance("ship_label", actor=ADMIN, business_key="RMA-7",
                                                    variables={"sku": "A-1", "qty": 2, **variables})

    def post(self, path: str, body: dict | None = None, persona: str | None = "printer", **headers):
        if persona:
            headers.setdefault("Authorization", f"Bearer {self.tokens[persona]}")
        return requests.post(f"{self.url}/external-task/{path}", json=body, headers=headers, timeout=40)

    def fetch(self, worker: str, timeout_ms: int = 0, persona: str = "printer", **topic):
        return self.post("fetchAndLock", {"workerId": worker, "maxTasks": 5, "asyncResponseTimeout": timeout_ms,
                                          "topics": [{"topicName": TOPIC, "lockDuration": 60000, **topic}]},
                         persona=persona)

    def worker(self, worker_id: str, **config) -> ExternalTaskWorker:
        config = {"maxTasks": 1, "lockDuration": 10000, "asyncResponseTimeout": 0, "sleepSeconds": 0, **config}
        return ExternalTaskWorker(worker_id=worker_id, base_url=self.url, config=config)


def redis_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    require_service("Redis", url.startswith("redis"), "set CELERY_BROKER_URL=redis://…")
    return url


@pytest.fixture
def loopline(make_engine, database, backend):
    # PostgreSQL runs as in production: the bell that wakes long polls rings through Redis
    broker = redis_url() if backend == "postgres" else ""
    engine = make_engine(database, external_topics=frozenset({TOPIC}), broker_url=broker)
    engine.deployments.deploy([ModelFile("ship_label.bpmn", MODEL)], actor=ADMIN)
    app = create_app(engine.settings, engine)
    app.config["TESTING"] = True
    with app.app_context():
        ensure_roles_and_groups(app.extensions["security"].datastore, groups=("warehouse",))
        tokens = {name: create_api_key(db.session, name, role, created_by="test", now=engine.now(),
                                       groups=groups).token for name, (role, groups) in KEYS.items()}
        db.session.commit()
    server = Loopline(engine, app, tokens)
    yield server
    server.server.shutdown()
    with app.app_context():
        db.engine.dispose()


def test_the_python_client_completes_a_job_with_typed_variables(loopline):
    instance = loopline.start(weight=1.25, fragile=True, address={"city": "Lyon"})
    seen = {}

    def print_label(task):
        seen.update(task.get_variables(), business_key=task.get_business_key(), topic=task.get_topic_name())
        seen["types"] = {name: task.get_variable(name, with_meta=True)["type"] for name in ("sku", "qty", "address")}
        return task.complete({"label": "LBL-1", "parcels": 2}, {"scratch": "local only"})

    worker = loopline.worker("printer-1", auth_basic={"username": "printer", "password": loopline.tokens["printer"]})
    worker.fetch_and_execute(TOPIC, print_label)

    assert seen["sku"] == "A-1" and seen["qty"] == 2 and seen["fragile"] is True and seen["weight"] == 1.25
    assert seen["types"] == {"sku": "String", "qty": "Integer", "address": "Json"}
    assert seen["address"] == '{"city":"Lyon"}' and seen["business_key"] == "RMA-7" and seen["topic"] == TOPIC
    row = inspect.instance(loopline.engine, instance.id)
    assert row.status == InstanceStatus.COMPLETED
    assert row.variables["label"] == "LBL-1" and row.variables["parcels"] == 2 and "scratch" not in row.variables
    assert inspect.completed_elements(loopline.engine, instance.id)[-1] == "printed_end"
    completed = [e for e in inspect.history(loopline.engine, instance.id) if e.type == "job_completed"]
    assert completed[0].payload["result"] == {"label": "LBL-1", "parcels": 2}


def test_jobs_of_external_topics_never_reach_loopline_workers(loopline):
    instance = loopline.start()
    job = inspect.jobs(loopline.engine, instance.id)[0]
    loopline.engine.clock.advance(minutes=5)
    assert loopline.engine.relay.relay_jobs() == []
    assert loopline.engine.jobs.run_job(job.id, "celery@worker") == "skipped"
    assert job.id not in loopline.woken
    assert inspect.jobs(loopline.engine, instance.id)[0].status == JobStatus.PENDING


def test_a_bpmn_error_reaches_the_boundary_event(loopline):
    instance = loopline.start()
    worker = loopline.worker("printer-1", auth_bearer={"access_token": loopline.tokens["printer"]})
    worker.fetch_and_execute(TOPIC, lambda task: task.bpmn_error("E_NO_STOCK", "none left", {"missing": 2}))

    row = inspect.instance(loopline.engine, instance.id)
    assert row.status == InstanceStatus.COMPLETED
    assert inspect.completed_elements(loopline.engine, instance.id)[-1] == "no_stock_end"
    assert row.variables["missing"] == 2
    failed = [e for e in inspect.history(loopline.engine, instance.id) if e.type == "job_failed"]
    assert failed[0].payload["caught_by"] == "no_stock" and failed[0].payload["error_code"] == "E_NO_STOCK"


def test_failure_retries_after_the_timeout_then_becomes_an_incident_at_zero_retries(loopline):
    instance = loopline.start()
    worker = loopline.worker("printer-1", auth_bearer={"access_token": loopline.tokens["printer"]})
    worker.fetch_and_execute(TOPIC, lambda task: task.failure("printer jammed", "tray 2", 1, 30000))
    job = inspect.jobs(loopline.engine, instance.id)[0]
    assert job.status == JobStatus.PENDING and job.last_error == "printer jammed\ntray 2"
    assert loopline.fetch("printer-1").json() == []  # not before retryTimeout

    loopline.engine.clock.advance(seconds=31)
    fetched = loopline.fetch("printer-1").json()
    assert [(t["retries"], t["errorMessage"]) for t in fetched] == [(1, "printer jammed")]
    loopline.post(f"{fetched[0]['id']}/unlock")
    # the client counts down from the reported retries: 1 - 1 = 0 opens an incident
    worker.fetch_and_execute(TOPIC, lambda task: task.failure("printer on fire", None, 5, 1000))

    job = inspect.jobs(loopline.engine, instance.id)[0]
    assert job.status == JobStatus.INCIDENT
    with loopline.engine.db.reading() as session:
        incidents = session.query(Incident).filter_by(instance_id=instance.id).all()
    assert [i.message for i in incidents] == [f"gave up after {job.attempts} attempts: printer on fire"]
    assert loopline.fetch("printer-1").json() == []
    assert inspect.instance(loopline.engine, instance.id).status == InstanceStatus.RUNNING


def test_a_locked_task_is_not_handed_to_a_second_worker_and_only_its_worker_reports(loopline):
    loopline.start()
    [task] = loopline.fetch("worker-a").json()
    assert task["workerId"] == "worker-a" and task["activityId"] == "print_label"
    assert loopline.fetch("worker-b").json() == []

    refused = loopline.post(f"{task['id']}/complete", {"workerId": "worker-b", "variables": {}})
    assert refused.status_code == 400
    assert refused.json() == {"type": "InvalidRequestException",
                              "message": f"External Task {task['id']} cannot be completed by worker 'worker-b'. "
                                         "It is locked by worker 'worker-a'."}
    assert loopline.post(f"{task['id']}/extendLock", {"workerId": "worker-b", "newDuration": 1000}).status_code == 400
    missing = loopline.post("999999/complete", {"workerId": "worker-a"})
    assert missing.status_code == 404 and missing.json()["type"] == "InvalidRequestException"

    loopline.engine.clock.advance(seconds=50)
    assert loopline.post(f"{task['id']}/extendLock", {"workerId": "worker-a", "newDuration": 120000}).status_code == 204
    job = inspect.jobs(loopline.engine, task["processInstanceId"])[0]
    assert job.locked_until == loopline.engine.now() + timedelta(seconds=120)

    assert loopline.post(f"{task['id']}/unlock").status_code == 204
    [again] = loopline.fetch("worker-b").json()
    assert again["id"] == task["id"] and again["workerId"] == "worker-b"
    assert loopline.post(f"{task['id']}/complete", {"workerId": "worker-a"}).status_code == 400
    done = loopline.post(f"{task['id']}/complete", {"workerId": "worker-b", "variables": {"label": {"value": "L"}}})
    assert done.status_code == 204
    assert loopline.post(f"{task['id']}/complete", {"workerId": "worker-b"}).status_code == 404
    events = [e.type for e in inspect.history(loopline.engine, task["processInstanceId"])]
    assert "job_unlocked" in events and "instance_completed" in events


def test_long_polling_returns_as_soon_as_a_task_appears(loopline, monkeypatch):
    reads = []
    original = ExternalTasks._lock
    monkeypatch.setattr(ExternalTasks, "_lock", lambda self, *args: reads.append(1) or original(self, *args))
    answer = {}

    def poll():
        began = time.monotonic()
        answer["tasks"] = loopline.fetch("poller", timeout_ms=20000).json()
        answer["seconds"] = time.monotonic() - began

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(1.0)  # the fetch is waiting: nothing there yet
    assert "tasks" not in answer
    instance = loopline.start()
    poller.join(10)

    assert [t["processInstanceId"] for t in answer["tasks"]] == [instance.id]
    assert 1.0 <= answer["seconds"] < 3.0
    assert len(reads) <= 3  # woken by the job's creation, not by re-reading the database in a loop

    began = time.monotonic()
    assert loopline.fetch("poller", timeout_ms=400).json() == []  # nothing more: answers at the timeout
    assert 0.35 <= time.monotonic() - began < 2.5


def test_the_bell_rings_across_processes_through_redis():
    url = redis_url()
    web_process, worker_process = JobBell({TOPIC}, url), JobBell({TOPIC}, url)
    mark = web_process.mark()
    threading.Timer(0.3, worker_process.ring, args=({TOPIC},)).start()
    began = time.monotonic()
    assert web_process.wait(mark, 10)
    assert time.monotonic() - began < 3


def test_callers_authenticate_with_an_api_key_of_the_integration_role(loopline):
    instance = loopline.start()
    anonymous = loopline.fetch("w", persona=None)
    assert anonymous.status_code == 401 and anonymous.json()["type"] == "AuthenticationException"
    assert "Basic" in anonymous.headers["WWW-Authenticate"]
    forged = loopline.post("fetchAndLock", {}, persona=None, Authorization="Bearer ll_0000_nope")
    assert forged.status_code == 401
    for persona in ("packer", "auditor"):
        refused = loopline.fetch("w", persona=persona)
        assert refused.status_code == 403 and refused.json()["type"] == "AuthorizationException"
        assert refused.json()["userId"] == f"apikey:{persona}"
    assert inspect.jobs(loopline.engine, instance.id)[0].status == JobStatus.PENDING


def test_bad_input_names_the_field_and_changes_nothing(loopline):
    instance = loopline.start()
    missing = loopline.post("fetchAndLock", {"maxTasks": 1, "topics": [{"topicName": TOPIC}]})
    assert missing.status_code == 400 and missing.json()["type"] == "InvalidRequestException"
    assert "workerId" in missing.json()["message"] and "topics.0.lockDuration" in missing.json()["message"]
    not_external = loopline.post("fetchAndLock", {"workerId": "w", "maxTasks": 1,
                                                  "topics": [{"topicName": "erp.adjust_stock", "lockDuration": 1}]})
    assert not_external.status_code == 400 and "LOOPLINE_EXTERNAL_TOPICS" in not_external.json()["message"]
    filtered = loopline.fetch("w", processVariables={"sku": "A-1"})
    assert filtered.status_code == 400 and "processVariables" in filtered.json()["message"]

    [task] = loopline.fetch("w").json()
    wrong_type = loopline.post(f"{task['id']}/complete", {"workerId": "w", "variables": {
        "qty": {"value": "two", "type": "Integer"}, "note": {"value": "x", "type": "Bytes"}}})
    assert wrong_type.status_code == 400
    assert "variables.qty" in wrong_type.json()["message"] and "variables.note" in wrong_type.json()["message"]
    negative = loopline.post(f"{task['id']}/failure", {"workerId": "w", "retries": -1})
    assert negative.status_code == 400 and "retries" in negative.json()["message"]
    job = inspect.jobs(loopline.engine, instance.id)[0]
    assert job.status == JobStatus.RUNNING and job.last_error is None
    assert inspect.instance(loopline.engine, instance.id).status == InstanceStatus.RUNNING


def test_deploy_accepts_an_external_topic_and_still_refuses_an_unknown_one(make_engine, sqlite_database):
    plain = make_engine(sqlite_database)
    with pytest.raises(InvalidModel) as refused:
        plain.deployments.deploy([ModelFile("ship_label.bpmn", MODEL)], actor=ADMIN)
    assert f"no connector is registered for topic '{TOPIC}'" in str(refused.value)
    assert "LOOPLINE_EXTERNAL_TOPICS" in str(refused.value)
    external = make_engine(sqlite_database, external_topics=frozenset({TOPIC}))
    assert external.deployments.deploy([ModelFile("ship_label.bpmn", MODEL)], actor=ADMIN)


def test_typed_variables_convert_both_ways_and_bad_ones_are_named():
    values = from_camunda({
        "n": {"value": 7, "type": "Integer"}, "big": {"value": 2**40, "type": "Long"},
        "d": {"value": 2, "type": "Double"}, "ok": {"value": False, "type": "Boolean"},
        "none": {"value": None, "type": "Null"}, "j": {"value": '{"a": [1]}', "type": "Json"},
        "o": {"value": '["x"]', "type": "Object", "valueInfo": {"serializationDataFormat": "application/json"}},
        "when": {"value": "2026-12-03T08:00:00.000+0100", "type": "Date"}, "raw": {"value": {"k": 1}},
    }, "variables")
    assert values == {"n": 7, "big": 2**40, "d": 2.0, "ok": False, "none": None, "j": {"a": [1]}, "o": ["x"],
                      "when": "2026-12-03T08:00:00+01:00", "raw": {"k": 1}}
    assert to_camunda({"n": 7, "big": 2**40, "j": {"a": 1}, "s": "x"}, ["big", "j", "missing"]) == {
        "big": {"type": "Long", "value": 2**40, "valueInfo": {}},
        "j": {"type": "Json", "value": '{"a":1}', "valueInfo": {}}}
    with pytest.raises(InvalidInput) as refused:
        from_camunda({"n": {"value": 2**31, "type": "Integer"}, "flag": {"value": "yes", "type": "Boolean"},
                      "o": {"value": "<x/>", "type": "Object",
                            "valueInfo": {"serializationDataFormat": "application/xml"}},
                      "bare": 3}, "variables")
    assert set(refused.value.errors) == {"variables.n", "variables.flag", "variables.o", "variables.bare"}
