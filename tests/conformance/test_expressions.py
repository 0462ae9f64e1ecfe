"""JUEL method calls that public Camunda 7 models write in conditions: `${x.equals("a")}`, `${list.isEmpty()}`,
`${s.startsWith("A")}`, `${execution.getVariable("x")}`, `${execution.getBusinessKey()}`, ... — each runs with
Camunda's meaning, deploy → start → the branch taken; any other method is refused at deploy naming the flow."""

from __future__ import annotations

from xml.sax.saxutils import escape

import pytest

from orchestrator.errors import InvalidModel, ProcessError
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN
from tests.support import inspect


def branching(process_id: str, condition: str) -> str:
    """start → gateway → `yes` when `condition` holds, else `no` (the gateway's default flow)."""
    return (f'<bpmn:process id="{process_id}" isExecutable="true"><bpmn:startEvent id="start"/>'
            '<bpmn:exclusiveGateway id="check" default="to_no"/>'
            '<bpmn:endEvent id="yes"/><bpmn:endEvent id="no"/>'
            '<bpmn:sequenceFlow id="to_check" sourceRef="start" targetRef="check"/>'
            '<bpmn:sequenceFlow id="to_yes" sourceRef="check" targetRef="yes">'
            f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{escape(condition)}</bpmn:conditionExpression>'
            '</bpmn:sequenceFlow>'
            '<bpmn:sequenceFlow id="to_no" sourceRef="check" targetRef="no"/></bpmn:process>')


def branch_taken(engine, process_id: str, condition: str, variables: dict, business_key: str | None = None) -> str:
    deploy(engine, model(branching(process_id, condition)))
    started = engine.instances.start_instance(process_id, actor=ADMIN, variables=variables, business_key=business_key)
    assert inspect.instance(engine, started.id).status == "completed"
    path = inspect.completed_elements(engine, started.id)
    return "yes" if "yes" in path else "no"


@pytest.mark.parametrize(("condition", "variables", "expected"), [
    ('${reason.equals("defect")}', {"reason": "defect"}, "yes"),
    ('${reason.equals("defect")}', {"reason": "other"}, "no"),
    ("${!reason.equals(expected)}", {"reason": "a", "expected": "b"}, "yes"),
    ("${amount.equals(100)}", {"amount": 100.0}, "yes"),  # value equality, not Java's Integer vs Double
    ("${items.isEmpty()}", {"items": []}, "yes"),
    ("${!items.isEmpty()}", {"items": []}, "no"),
    ("${note.isEmpty()}", {"note": ""}, "yes"),
    ('${note.contains("urgent")}', {"note": "very urgent!"}, "yes"),
    ('${items.contains("b")}', {"items": ["a", "b"]}, "yes"),
    ('${sku.startsWith("RMA-")}', {"sku": "RMA-7"}, "yes"),
    ('${sku.endsWith(".pdf")}', {"sku": "scan.PDF"}, "no"),
    ("${name.length() > 3}", {"name": "Anna"}, "yes"),
    ("${items.size() == 2}", {"items": [1, 2]}, "yes"),
    ('${country.toUpperCase() == "DE"}', {"country": "de"}, "yes"),
    ('${country.toLowerCase() == "de"}', {"country": "DE"}, "yes"),
    ("${comment.trim().isEmpty()}", {"comment": "   "}, "yes"),
    ('${order.get("total") > 50}', {"order": {"total": 70}}, "yes"),
    ('${order.containsKey("coupon")}', {"order": {"total": 70}}, "no"),
    ('${count.toString() == "3"}', {"count": 3}, "yes"),
    ('${flag.toString() == "true"}', {"flag": True}, "yes"),
    ('${execution.getVariable("amount") > 10}', {"amount": 20}, "yes"),
    ('${execution.getVariable("missing") == null}', {}, "yes"),  # as in Camunda: null, not an error
    ('${execution.hasVariable("amount")}', {}, "no"),
    ('${execution.getActivityId() == "check"}', {}, "yes"),
])
def test_juel_method_calls_choose_the_branch_as_camunda_does(conformance_engine, condition, variables, expected):
    assert branch_taken(conformance_engine, "methods", condition, variables) == expected


def test_execution_business_key_is_the_instances(conformance_engine):
    deploy(conformance_engine, model(branching("keyed", '${execution.getBusinessKey() == "RMA-1"}')))
    started = conformance_engine.instances.start_instance("keyed", actor=ADMIN, business_key="RMA-1")
    assert "yes" in inspect.completed_elements(conformance_engine, started.id)
    other = conformance_engine.instances.start_instance("keyed", actor=ADMIN, business_key="RMA-2")
    assert "no" in inspect.completed_elements(conformance_engine, other.id)
    assert branch_taken(conformance_engine, "process_key", '${execution.getProcessBusinessKey() == "K"}', {},
                        business_key="K") == "yes"
    assert branch_taken(conformance_engine, "no_key", "${execution.getBusinessKey() == null}", {}) == "yes"


def test_execution_process_instance_id_matches_the_started_instance(conformance_engine):
    process = ('<bpmn:process id="by_id" isExecutable="true"><bpmn:startEvent id="start"/>'
               '<bpmn:userTask id="wait"/><bpmn:exclusiveGateway id="check" default="to_no"/>'
               '<bpmn:endEvent id="yes"/><bpmn:endEvent id="no"/>'
               '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>'
               '<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="check"/>'
               '<bpmn:sequenceFlow id="to_yes" sourceRef="check" targetRef="yes"><bpmn:conditionExpression>'
               "${execution.getProcessInstanceId() == myId}</bpmn:conditionExpression></bpmn:sequenceFlow>"
               '<bpmn:sequenceFlow id="to_no" sourceRef="check" targetRef="no"/></bpmn:process>')
    deploy(conformance_engine, model(process))
    started = conformance_engine.instances.start_instance("by_id", actor=ADMIN)
    [task] = inspect.open_tasks(conformance_engine, started.id)
    conformance_engine.tasks.complete_user_task(task.id, {"myId": started.id}, actor=ADMIN)
    assert "yes" in inspect.completed_elements(conformance_engine, started.id)


@pytest.mark.parametrize(("condition", "problem"), [
    ("${reason.getClass().getName() == 'x'}", "method 'getClass()' on a value is not supported"),
    ("${execution.getProcessEngineServices() != null}", "method 'getProcessEngineServices()' on execution"),
    ('${execution.setVariable("a", 1)}', "method 'setVariable()' on execution is not supported"),
    ("${reason.equals()}", "method 'equals()' takes 1 argument, got 0"),
    ("${reason.__class__()}", "not supported"),
])
def test_other_method_calls_are_refused_at_deploy_naming_the_flow(conformance_engine, condition, problem):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(branching("refused", condition)))
    [message] = refused.value.details["problems"]
    assert "to_yes" in message and problem in message


def test_a_method_called_on_null_refuses_the_start_naming_the_gateway(conformance_engine):
    deploy(conformance_engine, model(branching("on_null", "${reason.isEmpty()}")))
    with pytest.raises(ProcessError) as refused:
        conformance_engine.instances.start_instance("on_null", actor=ADMIN, variables={"reason": None})
    assert "isEmpty() was called on null" in str(refused.value)
    # JUEL's own `empty` operator is the null-safe test
    assert branch_taken(conformance_engine, "null_safe", "${empty reason}", {"reason": None}) == "yes"
