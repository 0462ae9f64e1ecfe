"""Issue 10, item 8 (JSON part): hostile JSON bodies and a start without its variables fail safely.

Found: a body nested 100,000 deep, a 5,000-digit integer, `1e999`, `NaN` → 500 (and the invalid JSON stored
on SQLite); `POST /process-definitions/recall/start` with no variables → 500. Now: 400 naming the problem
before any view runs, 422 naming each missing variable, the API start checks what the start form page checks,
`GET …/start-form` describes the fields, and nothing is stored by a refused request.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from orchestrator.actors import Actor
from orchestrator.definitions import ModelFile
from orchestrator.errors import InvalidInput
from orchestrator.models import HistoryEvent, ProcessInstance
from tests.conftest import ADMIN
from tests.support import inspect
from tests.web.conftest import ApiClient
from web.api.strict_json import LARGEST_NUMBER, MAX_DEPTH, nesting_depth

REPO = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"
START = "/api/v1/process-definitions/{}/start"
REFUND = {"amount": 10, "customer": "Ada"}

# A start form with each kind of check the form page makes: required, a pattern, a whole number with a
# minimum, an enum, a maximum length, a date.
INTAKE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="intake_defs" targetNamespace="http://loopline.dev/test">
  <bpmn:process id="intake" name="Intake" isExecutable="true">
    <bpmn:startEvent id="received" name="Received">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="rmaNumber" label="RMA number" type="string">
            <camunda:validation><camunda:constraint name="required" /><camunda:constraint name="pattern" config="RMA-[0-9]{4}" /></camunda:validation>
          </camunda:formField>
          <camunda:formField id="quantity" label="Quantity" type="long">
            <camunda:validation><camunda:constraint name="required" /><camunda:constraint name="min" config="1" /></camunda:validation>
          </camunda:formField>
          <camunda:formField id="reason" label="Reason" type="enum">
            <camunda:value id="defect" name="Quality defect" /><camunda:value id="no_reason" name="7-day no reason" />
            <camunda:validation><camunda:constraint name="required" /></camunda:validation>
          </camunda:formField>
          <camunda:formField id="note" label="Note" type="textarea">
            <camunda:validation><camunda:constraint name="maxlength" config="20" /></camunda:validation>
          </camunda:formField>
          <camunda:formField id="purchaseDate" label="Purchase date" type="date" />
        </camunda:formData>
      </bpmn:extensionElements>
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="review" name="Review" camunda:candidateGroups="customer_service">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="done"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="received" targetRef="review" />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>
"""
GOOD_INTAKE = {"rmaNumber": "RMA-1001", "quantity": 2, "reason": "defect"}


def stored(engine) -> tuple[int, int, int]:
    """Instances, history events and instance rows whose variables are not valid JSON."""
    with engine.db.reading() as session:
        invalid = session.scalar(text("SELECT count(*) FROM process_instance WHERE json_valid(variables) = 0")) \
            if not engine.db.is_postgres else 0
        return (session.scalar(select(func.count()).select_from(ProcessInstance)),
                session.scalar(select(func.count()).select_from(HistoryEvent)), invalid)


def raw_post(client: ApiClient, path: str, body: str):
    return client.post(path, data=body, headers={"Content-Type": "application/json"})


def variables_body(value: str) -> str:
    return '{"variables": {"amount": 10, "customer": "Ada", "note": ' + value + "}}"


HOSTILE = {
    "nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, f"nested deeper than {MAX_DEPTH} levels"),
    "a 5,000-digit integer": ("7" * 5000, "the number 77777777777777777777… (5000 characters) is outside"),
    "1e999": ("1e999", "the number 1e999 is outside"),
    "-1e999": ("-1e999", "the number -1e999 is outside"),
    "NaN": ("NaN", "NaN is not a JSON number"),
    "Infinity": ("Infinity", "Infinity is not a JSON number"),
    "-Infinity": ("-Infinity", "-Infinity is not a JSON number"),
    "2^53": (str(2**53), f"the number {2**53} is outside ±{LARGEST_NUMBER} (send it as text)"),
    "1e300": ("1e300", "the number 1e300 is outside"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_json_body_is_refused_with_400_before_anything_is_stored(as_, web_engine, name):
    value, named = HOSTILE[name]
    before = stored(web_engine)
    answer = raw_post(as_("admin"), START.format("refund_claim"), variables_body(value))
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert answer.content_type == PROBLEM
    assert named in answer.get_json()["detail"] and named in answer.get_json()["errors"]["_body"]
    assert stored(web_engine) == before
    assert as_("admin").get("/healthz").status_code == 200  # the process still answers


@pytest.mark.parametrize("path", ["/api/v1/messages", "/api/v1/tasks/any/complete", "/api/v1/api-keys",
                                  "/api/v1/trace-events", "/api/v1/instances/any/cancel"])
def test_every_json_endpoint_refuses_them_at_the_same_door(as_, web_engine, path):
    before = stored(web_engine)
    for value, named in HOSTILE.values():
        answer = raw_post(as_("admin"), path, '{"variables": {"x": ' + value + "}}")
        assert (answer.status_code, answer.content_type) == (400, PROBLEM), (path, value[:20])
        assert named in answer.get_json()["detail"]
    assert stored(web_engine) == before


def test_the_limits_themselves_are_accepted(as_, web_engine):
    deepest = "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2)  # the body and `variables` are two levels
    for value in (deepest, str(LARGEST_NUMBER), str(-LARGEST_NUMBER), "9007199254740991.0", "-1.5e-300",
                  '"NaN, 1e999 and [[[ in text are just text"'):
        answer = raw_post(as_("admin"), START.format("refund_claim"), variables_body(value))
        assert answer.status_code == 201, (value[:20], answer.get_json())
    assert raw_post(as_("admin"), START.format("refund_claim"),
                    variables_body("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))).status_code == 400
    assert stored(web_engine)[2] == 0  # every stored value is valid JSON


def test_invalid_json_and_text_that_is_not_utf8_are_400_too(as_, web_engine):
    before = stored(web_engine)
    for body in ('{"variables": ', b'{"variables": {"a": "\xff"}}'):
        answer = raw_post(as_("admin"), START.format("refund_claim"), body)
        assert (answer.status_code, answer.content_type) == (400, PROBLEM)
    assert stored(web_engine) == before


def test_nesting_is_counted_without_recursion_and_ignores_brackets_in_strings():
    assert nesting_depth("[" * 1_000_000) == 1_000_000  # no RecursionError, however deep
    started = time.monotonic()
    assert nesting_depth('["' + '\\"' * 500_000) == 1  # an unterminated string of escaped quotes: one pass
    assert time.monotonic() - started < 2
    assert nesting_depth('{"a": "[[[[", "b": ["\\"[", {"c": []}]}') == 4
    assert nesting_depth("12") == 0


@pytest.fixture
def models(web_engine):
    """The shipped recall model (as in the report) and a start form with a check of each kind."""
    web_engine.deployments.deploy_directory(REPO / "bpmn", actor=Actor.system("startup"))
    web_engine.deployments.deploy([ModelFile("intake.bpmn", INTAKE)], actor=ADMIN)
    return web_engine


def test_a_recall_start_without_variables_is_a_422_naming_each_missing_one(as_, models):
    before = stored(models)
    for body in ({}, {"variables": {}}):
        answer = as_("admin").post(START.format("recall"), json=body)
        assert (answer.status_code, answer.content_type) == (422, PROBLEM), answer.get_json()
        errors = answer.get_json()["errors"]
        assert errors == {f"variables.{name}": "is required"
                          for name in ("triggerSource", "sku", "lotNumber", "evidenceSummary")}
        assert all(name in answer.get_json()["detail"] for name in ("triggerSource", "evidenceSummary"))
    assert as_("admin").post(START.format("recall")).status_code == 422  # no body at all
    assert stored(models) == before
    named = {"triggerSource": "manual", "sku": "KETTLE-2", "lotNumber": "L-7", "evidenceSummary": "three burns"}
    started = as_("admin").post(START.format("recall"), json={"variables": named})
    assert started.status_code == 201, started.get_json()


def test_the_api_start_checks_what_the_start_form_page_checks(as_, models):
    bad = {"rmaNumber": "1001", "quantity": "two", "reason": "bored", "note": "x" * 21, "purchaseDate": "soon"}
    answer = as_("admin").post(START.format("intake"), json={"variables": bad})
    assert answer.status_code == 422
    through_api = {k.removeprefix("variables."): v for k, v in answer.get_json()["errors"].items()}
    with pytest.raises(InvalidInput) as page:  # the path the start form page takes
        models.start_forms.start_from_form("intake", bad, actor=ADMIN)
    assert through_api == page.value.errors
    assert through_api == {"rmaNumber": "must match the pattern RMA-[0-9]{4}",
                           "quantity": "must be a whole number, not 'two'",
                           "reason": "must be one of defect, no_reason", "note": "must be at most 20 characters",
                           "purchaseDate": "must be a date (YYYY-MM-DD), not 'soon'"}
    assert as_("admin").post(START.format("intake"), json={"variables": {**GOOD_INTAKE, "quantity": 0}}) \
        .get_json()["errors"] == {"variables.quantity": "must be at least 1"}
    assert stored(models)[0] == 0


def test_a_valid_api_start_is_typed_like_the_page_and_keeps_the_callers_own_variables(as_, models):
    answer = as_("admin").post(START.format("intake"), json={"variables": {
        **GOOD_INTAKE, "quantity": "3", "purchaseDate": "02/01/2026", "shopOrderId": "SO-77"}})
    assert answer.status_code == 201, answer.get_json()
    variables = inspect.instance(models, answer.get_json()["id"]).variables
    assert (variables["quantity"], variables["purchaseDate"], variables["shopOrderId"]) == (3, "2026-01-02", "SO-77")


def test_the_start_form_is_described_by_the_api_and_the_openapi_document(as_, models):
    described = as_("shop").get("/api/v1/process-definitions/intake/start-form")
    assert described.status_code == 200, described.get_json()
    body = described.get_json()
    assert (body["key"], body["version"]) == ("intake", 1)
    fields = {f["id"]: f for f in body["form"]}
    assert list(fields) == ["rmaNumber", "quantity", "reason", "note", "purchaseDate"]
    assert fields["rmaNumber"] == {"id": "rmaNumber", "label": "RMA number", "type": "string", "required": True,
                                   "readonly": False, "default": None, "options": [],
                                   "constraints": {"pattern": "RMA-[0-9]{4}"}, "properties": {}}
    assert (fields["quantity"]["type"], fields["quantity"]["constraints"]) == ("long", {"min": "1"})
    assert [o["id"] for o in fields["reason"]["options"]] == ["defect", "no_reason"]
    assert not fields["note"]["required"] and fields["note"]["constraints"] == {"maxlength": "20"}

    recall = {f["id"]: f["required"] for f in as_("shop").get(
        "/api/v1/process-definitions/recall/start-form").get_json()["form"]}
    assert [name for name, required in recall.items() if required] == [
        "triggerSource", "sku", "lotNumber", "evidenceSummary"]
    assert as_("shop").get("/api/v1/process-definitions/refund_claim/start-form").get_json()["form"] == []
    assert as_("shop").get("/api/v1/process-definitions/nothing/start-form").status_code == 404
    assert as_(None).get("/api/v1/process-definitions/intake/start-form").status_code == 401

    spec = as_("shop").get("/api/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/process-definitions/{key}/start-form"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/StartForm")
    described_fields = spec["components"]["schemas"]["FieldDescription"]["properties"]
    assert {"id", "type", "label", "required", "options", "constraints"} <= set(described_fields)
    assert "422" in spec["paths"]["/api/v1/process-definitions/{key}/start"]["post"]["responses"]
