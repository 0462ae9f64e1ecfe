"""Signals from outside: `POST /api/v1/signals` and Camunda's `POST /engine-rest/signal` reach every case waiting
for the signal, with its variables; bad input is refused naming the field and delivers nothing."""

from __future__ import annotations

from orchestrator.definitions import ModelFile
from tests.conftest import ADMIN
from tests.security.test_roles import sign_in
from tests.support import inspect

OWNER = ("olga@example.com", ("process_owner",), ())

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:signal id="s_hold" name="Hold shipments"/>
  <bpmn:process id="shipment" isExecutable="true">
    <bpmn:startEvent id="start"/><bpmn:userTask id="pack"/><bpmn:userTask id="held"/><bpmn:endEvent id="end"/>
    <bpmn:boundaryEvent id="hold" attachedToRef="pack"><bpmn:signalEventDefinition signalRef="s_hold"/>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="pack"/>
    <bpmn:sequenceFlow id="f2" sourceRef="pack" targetRef="end"/>
    <bpmn:sequenceFlow id="f3" sourceRef="hold" targetRef="held"/>
    <bpmn:sequenceFlow id="f4" sourceRef="held" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def shipments(engine, count: int) -> list[str]:
    engine.deployments.deploy([ModelFile("shipment.bpmn", MODEL)], actor=ADMIN)
    return [engine.instances.start_instance("shipment", actor=ADMIN).id for _ in range(count)]


def waits_at(engine, instance_id: str) -> list[str]:
    return [task.element_id for task in inspect.open_tasks(engine, instance_id)]


def test_a_signal_from_the_api_reaches_every_waiting_case(as_, web_engine):
    cases = shipments(web_engine, 2)
    answer = as_("admin").post("/api/v1/signals", json={"name": "Hold shipments", "variables": {"why": "recall"}})
    assert answer.status_code == 200, answer.get_json()
    assert sorted(answer.get_json()["delivered"]) == sorted(cases) and answer.get_json()["refused"] == {}
    for case in cases:
        assert waits_at(web_engine, case) == ["held"]
        assert inspect.instance(web_engine, case).variables == {"why": "recall"}


def test_a_signal_through_the_camunda_rest_api_takes_typed_variables(as_, web_engine):
    [case] = shipments(web_engine, 1)
    answer = as_("admin").post("/engine-rest/signal", json={
        "name": "Hold shipments", "variables": {"lot": {"value": "L-7", "type": "String"}}})
    assert answer.status_code == 204, answer.get_data(as_text=True)
    assert waits_at(web_engine, case) == ["held"]
    assert inspect.instance(web_engine, case).variables == {"lot": "L-7"}


def test_a_signal_without_a_name_is_refused_and_delivers_nothing(as_, web_engine):
    [case] = shipments(web_engine, 1)
    answer = as_("admin").post("/api/v1/signals", json={"variables": {}})
    assert answer.status_code == 422 and "name" in answer.get_data(as_text=True)
    camunda = as_("admin").post("/engine-rest/signal", json={"name": "Hold shipments", "variables": {"x": 1}})
    assert camunda.status_code == 400 and "variables.x" in camunda.get_json()["message"]
    assert waits_at(web_engine, case) == ["pack"]


def test_a_person_sends_the_signal_a_case_waits_for_from_its_page(app, web_engine):
    [case, other] = shipments(web_engine, 2)
    owner = sign_in(app, *OWNER)
    page = owner.get(f"/instances/{case}").data.decode()
    assert 'id="case-signals"' in page and "Hold shipments" in page
    answer = owner.post(f"/instances/{case}/signals", follow_redirects=True,
                        data={"csrf_token": owner.csrf, "signal": "Hold shipments"})
    assert "Signal Hold shipments delivered." in answer.data.decode()
    assert waits_at(web_engine, case) == ["held"] and waits_at(web_engine, other) == ["pack"]  # this case only
    again = owner.post(f"/instances/{case}/signals", follow_redirects=True,
                       data={"csrf_token": owner.csrf, "signal": "Hold shipments"})
    assert "is not waiting for signal" in again.data.decode()
