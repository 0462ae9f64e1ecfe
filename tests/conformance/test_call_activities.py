"""Call activities pass variables as Camunda 7 does: only what camunda:in maps goes in, only what
camunda:out maps comes back (the caller keeps its own), nothing without a mapping, all with variables="all"."""

from __future__ import annotations

from uuid import UUID

import pytest

from orchestrator.errors import InvalidModel
from orchestrator.models import ProcessInstance
from tests.conformance.conftest import deploy, model
from tests.conformance.test_runtime_values import END, START, chain
from tests.conftest import ADMIN
from tests.support import inspect

CHILD = """<bpmn:process id="child" isExecutable="true">
  <bpmn:startEvent id="child_start"/><bpmn:sequenceFlow id="c1" sourceRef="child_start" targetRef="child_work"/>
  <bpmn:userTask id="child_work" name="Child work"/>
  <bpmn:sequenceFlow id="c2" sourceRef="child_work" targetRef="child_end"/><bpmn:endEvent id="child_end"/>
</bpmn:process>"""


def caller(mappings: str) -> str:
    return f"""<bpmn:process id="caller" isExecutable="true">
      <bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
      <bpmn:callActivity id="call" calledElement="child">
        <bpmn:extensionElements>{mappings}</bpmn:extensionElements></bpmn:callActivity>
      <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="after"/><bpmn:userTask id="after" name="After"/>
      <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/><bpmn:endEvent id="end"/>
    </bpmn:process>""" + CHILD


def task_data(engine, instance_id: str, task_id: str) -> dict:
    """The variables a waiting task of the stored workflow holds (what the called process sees)."""
    with engine.db.reading() as session:
        row = session.get(ProcessInstance, instance_id)
        parsed = engine.definitions.get(session, row.definition_id)
        workflow = engine.serializer.loads(row.state, parsed.spec, parsed.subprocess_specs, engine.script_engine)
    return dict(workflow.get_task_from_id(UUID(task_id)).data)


def run(engine, mappings: str) -> tuple[dict, dict]:
    """Start the caller with order and secret, let the child add verdict; the child's variables while it
    waits and the caller's variables after it returned."""
    deploy(engine, model(caller(mappings)))
    started = engine.instances.start_instance("caller", actor=ADMIN, variables={"order": "SO-1", "secret": "s3"})
    [child_task] = inspect.open_tasks(engine, started.id)
    seen = task_data(engine, started.id, child_task.id)
    engine.tasks.complete_user_task(child_task.id, {"verdict": "ok", "order": "SO-2"}, actor=ADMIN)
    [after] = inspect.open_tasks(engine, started.id)
    assert after.element_id == "after"
    return seen, dict(inspect.instance(engine, started.id).variables)


def test_single_variables_go_in_and_come_back_by_their_mappings(conformance_engine):
    seen, back = run(conformance_engine, '<camunda:in source="order" target="orderNumber"/>'
                                         '<camunda:in sourceExpression="${secret == &quot;s3&quot;}" target="cleared"/>'
                                         '<camunda:out source="verdict" target="childVerdict"/>')
    assert seen["orderNumber"] == "SO-1" and seen["cleared"] is True and "secret" not in seen
    assert back["childVerdict"] == "ok" and back["order"] == "SO-1" and back["secret"] == "s3"
    assert "verdict" not in back


def test_without_mappings_nothing_is_passed_either_way(conformance_engine):
    seen, back = run(conformance_engine, "")
    assert "order" not in seen and "secret" not in seen
    assert back["order"] == "SO-1" and "verdict" not in back


def test_all_variables_in_and_out(conformance_engine):
    seen, back = run(conformance_engine, '<camunda:in variables="all"/><camunda:out variables="all"/>')
    assert (seen["order"], seen["secret"]) == ("SO-1", "s3")
    assert (back["verdict"], back["order"]) == ("ok", "SO-2")


def test_a_call_activity_without_a_called_process_is_refused_naming_it(conformance_engine):
    body = chain("caller_without_callee", START, '<bpmn:callActivity id="call" camunda:caseRef="claimCase"/>', END)
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(body))
    assert ("element 'call': a call activity needs calledElement, the id of the process it calls (calling a CMMN "
            "case with camunda:caseRef is not supported)") in str(refused.value), str(refused.value)
