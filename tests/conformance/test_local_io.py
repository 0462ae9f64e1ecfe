"""camunda:inputOutput on tasks, events, subprocesses and call activities as Camunda 7 maps it: input parameters are the
activity's own variables (seen inside it, gone after it, a hidden process variable back), output parameters
set process variables when it completes; a value that cannot be computed refuses the command naming the
element. Each scenario waits at a user task, so the instance is saved and restored in between."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidModel, ProcessError
from tests.conformance.conftest import deploy, model
from tests.conformance.test_call_activities import task_data
from tests.conformance.test_runtime_values import END, START, chain
from tests.conftest import ADMIN
from tests.support import inspect


def mapped(element: str, element_id: str, inputs: dict[str, str], outputs: dict[str, str], inner: str = "") -> str:
    parameters = "".join(f'<camunda:inputParameter name="{n}">{v}</camunda:inputParameter>' for n, v in inputs.items())
    parameters += "".join(f'<camunda:outputParameter name="{n}">{v}</camunda:outputParameter>'
                          for n, v in outputs.items())
    return (f'<bpmn:{element} id="{element_id}"><bpmn:extensionElements><camunda:inputOutput>{parameters}'
            f'</camunda:inputOutput></bpmn:extensionElements>{inner}</bpmn:{element}>')


APPROVE = mapped("userTask", "approve", {"limit": "${amount * 2}", "desk": "returns"},
                 {"approvedLimit": "${limit}", "where": "${desk}"})
CHECK = mapped("scriptTask", "check", {"factor": "3"}, {"checked": "${scaled + 1}"},
               '<bpmn:script>scaled = amount * int(factor)</bpmn:script>').replace(
    '<bpmn:scriptTask id="check">', '<bpmn:scriptTask id="check" scriptFormat="python">')
WAIT = '<bpmn:userTask id="wait"/>'


def complete(engine, instance_id: str, element_id: str, values: dict) -> None:
    [task] = [t for t in inspect.open_tasks(engine, instance_id) if t.element_id == element_id]
    engine.tasks.complete_user_task(task.id, values, actor=ADMIN)


def test_a_user_tasks_inputs_are_its_own_and_its_outputs_reach_the_process(conformance_engine):
    deploy(conformance_engine, model(chain("approval", START, APPROVE, WAIT, END)))
    started = conformance_engine.instances.start_instance("approval", actor=ADMIN, variables={"amount": 40})
    while_open = inspect.instance(conformance_engine, started.id).variables  # what the task's form reads
    assert while_open["limit"] == 80 and while_open["desk"] == "returns"
    complete(conformance_engine, started.id, "approve", {"ok": True})
    variables = inspect.instance(conformance_engine, started.id).variables
    assert variables["approvedLimit"] == 80 and variables["where"] == "returns" and variables["ok"] is True
    assert "limit" not in variables and "desk" not in variables  # local: gone with the activity


def test_an_input_hides_a_process_variable_only_while_the_activity_runs(conformance_engine):
    deploy(conformance_engine, model(chain("approval", START, APPROVE, WAIT, END)))
    started = conformance_engine.instances.start_instance("approval", actor=ADMIN,
                                                          variables={"amount": 40, "limit": 5})
    complete(conformance_engine, started.id, "approve", {})
    variables = inspect.instance(conformance_engine, started.id).variables
    assert variables["limit"] == 5 and variables["approvedLimit"] == 80


def test_a_script_sees_its_inputs_and_its_outputs_are_set(conformance_engine):
    deploy(conformance_engine, model(chain("checking", START, CHECK, WAIT, END)))
    started = conformance_engine.instances.start_instance("checking", actor=ADMIN, variables={"amount": 7})
    variables = inspect.instance(conformance_engine, started.id).variables
    assert variables["checked"] == 22 and variables["scaled"] == 21 and "factor" not in variables


def test_an_input_that_cannot_be_computed_refuses_the_start_naming_the_element(conformance_engine):
    deploy(conformance_engine, model(chain("approval", START, APPROVE, WAIT, END)))
    with pytest.raises(ProcessError) as refused:
        conformance_engine.instances.start_instance("approval", actor=ADMIN)
    assert refused.value.details["element_id"] == "approve" and "amount" in str(refused.value)


def test_a_subprocess_inputs_are_seen_inside_it_and_its_outputs_reach_the_process(conformance_engine):
    inner = ('<bpmn:startEvent id="in_start"/><bpmn:userTask id="inner"/><bpmn:endEvent id="in_end"/>'
             '<bpmn:sequenceFlow id="s1" sourceRef="in_start" targetRef="inner"/>'
             '<bpmn:sequenceFlow id="s2" sourceRef="inner" targetRef="in_end"/>')
    sub = mapped("subProcess", "handle", {"limit": "${amount * 2}"}, {"granted": "${limit - spent}"}, inner)
    deploy(conformance_engine, model(chain("sub", START, sub, WAIT, END)))
    started = conformance_engine.instances.start_instance("sub", actor=ADMIN, variables={"amount": 40})
    assert inspect.instance(conformance_engine, started.id).variables["limit"] == 80  # the inner task's view
    complete(conformance_engine, started.id, "inner", {"spent": 30})
    variables = inspect.instance(conformance_engine, started.id).variables
    assert variables["granted"] == 50 and variables["spent"] == 30 and "limit" not in variables


def test_a_call_activity_passes_its_inputs_through_camunda_in_and_maps_what_comes_out(conformance_engine):
    child = chain("child", START, '<bpmn:userTask id="child_task"/>', END)
    call = mapped("callActivity", "call", {"order": "${number}"}, {"verdictUpper": "${verdict.toUpperCase()}"})
    call = call.replace('<bpmn:callActivity id="call">', '<bpmn:callActivity id="call" calledElement="child">')
    call = call.replace("</camunda:inputOutput>", '</camunda:inputOutput><camunda:in source="order" target="order"/>'
                        '<camunda:out source="verdict" target="verdict"/>')
    deploy(conformance_engine, model(chain("parent", START, call, WAIT, END) + child))
    started = conformance_engine.instances.start_instance("parent", actor=ADMIN, variables={"number": "7"})
    [child_task] = inspect.open_tasks(conformance_engine, started.id)
    assert task_data(conformance_engine, started.id, child_task.id) == {"order": "7"}
    conformance_engine.tasks.complete_user_task(child_task.id, {"verdict": "ok"}, actor=ADMIN)
    variables = inspect.instance(conformance_engine, started.id).variables
    assert variables == {"number": "7", "verdict": "ok", "verdictUpper": "OK"}


def test_a_catch_event_maps_the_message_it_caught(conformance_engine):
    caught = mapped("intermediateCatchEvent", "paid", {}, {"paidTotal": "${amount + fee}"},
                    '<bpmn:messageEventDefinition messageRef="m_paid"/>')
    receive = mapped("receiveTask", "shipped", {"carrier": "post"}, {"shippedBy": "${carrier}"}).replace(
        '<bpmn:receiveTask id="shipped">', '<bpmn:receiveTask id="shipped" messageRef="m_shipped">')
    messages = '<bpmn:message id="m_paid" name="Paid"/><bpmn:message id="m_shipped" name="Shipped"/>'
    deploy(conformance_engine, model(chain("pay", START, caught, receive, WAIT, END, extra=messages)))
    started = conformance_engine.instances.start_instance("pay", actor=ADMIN, business_key="P-1",
                                                          variables={"fee": 2})
    conformance_engine.messages.correlate_message("Paid", actor=ADMIN, business_key="P-1", variables={"amount": 5})
    conformance_engine.messages.correlate_message("Shipped", actor=ADMIN, business_key="P-1")
    variables = inspect.instance(conformance_engine, started.id).variables
    assert variables["paidTotal"] == 7 and variables["shippedBy"] == "post" and "carrier" not in variables


def script_parameter(name: str, text: str, script_format: str = "javascript") -> str:
    return (f'<camunda:inputParameter name="{name}"><camunda:script scriptFormat="{script_format}">'
            f"<![CDATA[{text}]]></camunda:script></camunda:inputParameter>")


def test_a_script_parameter_takes_the_value_of_its_script(conformance_engine):
    approve = ('<bpmn:userTask id="approve"><bpmn:extensionElements><camunda:inputOutput>'
               + script_parameter("limit", 'execution.setVariable("seen", true);\nvar l = amount * 3;\nl + 1')
               + script_parameter("half", "amount / 2", "python")
               + '<camunda:outputParameter name="approvedLimit">${limit + half}</camunda:outputParameter>'
               '</camunda:inputOutput></bpmn:extensionElements></bpmn:userTask>')
    echo = ('<bpmn:serviceTask id="fetch" camunda:type="external" camunda:topic="demo.echo"><bpmn:extensionElements>'
            '<camunda:inputOutput>' + script_parameter("tags", "[amount, 'x'].join('-')") +
            '</camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>')
    deploy(conformance_engine, model(chain("approval", START, approve, echo, WAIT, END)))
    started = conformance_engine.instances.start_instance("approval", actor=ADMIN, variables={"amount": 40})
    assert inspect.instance(conformance_engine, started.id).variables["limit"] == 121
    complete(conformance_engine, started.id, "approve", {})
    [job] = inspect.jobs(conformance_engine, started.id)
    assert job.input == {"tags": "40-x"}
    variables = inspect.instance(conformance_engine, started.id).variables
    assert variables["approvedLimit"] == 141 and variables["seen"] is True and "limit" not in variables


@pytest.mark.parametrize(("element", "words"), [
    (mapped("exclusiveGateway", "work", {"a": "1"}, {}), "camunda:inputOutput on a exclusiveGateway is not applied "
                                                         "(Camunda 7 refuses it too)"),
    (mapped("endEvent", "work", {}, {"a": "1"}), "an end event cannot have output parameters"),
    (mapped("userTask", "work", {}, {}).replace("<camunda:inputOutput>", "<camunda:inputOutput>" + script_parameter(
        "a", "println 'x'", "groovy")), "parameter 'a': scriptFormat 'groovy' is not supported"),
    (mapped("userTask", "work", {}, {}).replace("<camunda:inputOutput>", "<camunda:inputOutput>" + script_parameter(
        "a", "var = ;")), "parameter 'a': JavaScript line 1: SyntaxError"),
    (mapped("userTask", "work", {"a": "1"}, {}, '<bpmn:multiInstanceLoopCharacteristics camunda:collection='
                                               '"${items}" camunda:elementVariable="item"/>'),
     "camunda:inputOutput on a multi-instance activity"),
])
def test_where_the_mapping_is_not_applied_it_is_refused_on_the_element(conformance_engine, element, words):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(chain("bad", START, element, END)))
    assert f"element 'work': {words}" in str(refused.value), str(refused.value)
