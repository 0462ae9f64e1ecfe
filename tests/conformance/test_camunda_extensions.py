"""Camunda settings are applied or refused on their element, never skipped in silence."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidModel
from tests.conformance.conftest import deploy, model
from tests.conformance.test_runtime_values import END, START, chain
from tests.conftest import ADMIN
from tests.support import inspect

LISTENER = ('<bpmn:extensionElements><camunda:executionListener class="com.acme.Audit" event="take"/>'
            '</bpmn:extensionElements>')


def process(inner: str, task: str = '<bpmn:userTask id="work"/>') -> str:
    return f"""<bpmn:process id="p" isExecutable="true">
      <bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
      {task}<bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end">{inner}</bpmn:sequenceFlow>
      <bpmn:endEvent id="end"/></bpmn:process>"""


@pytest.mark.parametrize(("body", "element", "words"), [
    (process(LISTENER), "f2", "camunda:executionListener calls Java code (class 'com.acme.Audit')"),
    (process("", '<bpmn:exclusiveGateway id="work">' + LISTENER + "</bpmn:exclusiveGateway>"), "work",
     "camunda:executionListener event 'take' is not supported on a exclusiveGateway"),
    (process("", '<bpmn:userTask id="work"><bpmn:extensionElements><camunda:taskListener class="x" '
                 'event="create"/></bpmn:extensionElements></bpmn:userTask>'), "work",
     "camunda:taskListener calls Java code (class 'x')"),
    (process("", '<bpmn:parallelGateway id="work"><bpmn:extensionElements><camunda:inputOutput>'
                 '<camunda:inputParameter name="a">1</camunda:inputParameter></camunda:inputOutput>'
                 "</bpmn:extensionElements></bpmn:parallelGateway>"), "work",
     "camunda:inputOutput on a parallelGateway is not applied"),
    (process("", '<bpmn:intermediateThrowEvent id="work"><bpmn:extensionElements>'
                 '<camunda:in source="order" target="order"/></bpmn:extensionElements></bpmn:intermediateThrowEvent>'),
     "work", "camunda:in/camunda:out on a intermediateThrowEvent are not supported"),
    (process('<bpmn:conditionExpression language="javascript">x &gt; 1</bpmn:conditionExpression>'), "f2",
     "condition language 'javascript' is not supported"),
    (process("", '<bpmn:scriptTask id="work" scriptFormat="groovy"><bpmn:script>x = 1</bpmn:script>'
                 "</bpmn:scriptTask>"), "work", "scriptFormat 'groovy' is not supported"),
    (process("", '<bpmn:scriptTask id="work" scriptFormat="python" camunda:resultVariable="x">'
                 "<bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>"), "work",
     "camunda:resultVariable keeps the value of the script's last line, which must be an expression"),
])
def test_a_camunda_setting_the_engine_would_skip_is_refused_on_its_element(conformance_engine, body, element,
                                                                            words):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(body))
    assert f"element '{element}': {words}" in str(refused.value), str(refused.value)


def test_the_initiator_variable_holds_who_started_the_instance(conformance_engine):
    body = process("").replace('<bpmn:startEvent id="start"/>',
                               '<bpmn:startEvent id="start" camunda:initiator="requester"/>')
    body = body.replace('<bpmn:userTask id="work"/>', '<bpmn:userTask id="work" camunda:assignee="${requester}"/>')
    deploy(conformance_engine, model(body))
    started = conformance_engine.instances.start_instance("p", actor=ADMIN)
    [task] = inspect.open_tasks(conformance_engine, started.id)
    assert task.assignee == ADMIN.name
    assert inspect.instance(conformance_engine, started.id).variables["requester"] == ADMIN.name


def test_extensions_in_the_activiti_namespace_read_as_camunda(conformance_engine):
    """Camunda 7 still reads `xmlns:activiti="http://activiti.org/bpmn"` attributes as its own."""
    body = process("", '<bpmn:userTask id="work" activiti:assignee="${requester}"/>').replace(
        '<bpmn:startEvent id="start"/>', '<bpmn:startEvent id="start" activiti:initiator="requester"/>')
    file = model(body)
    deploy(conformance_engine, type(file)(file.name, file.content.replace(
        'xmlns:camunda=', 'xmlns:activiti="http://activiti.org/bpmn" xmlns:camunda=', 1)))
    started = conformance_engine.instances.start_instance("p", actor=ADMIN)
    [task] = inspect.open_tasks(conformance_engine, started.id)
    assert task.assignee == ADMIN.name


def test_a_script_result_variable_keeps_the_value_of_its_last_expression(conformance_engine):
    script = ('<bpmn:scriptTask id="work" scriptFormat="python" camunda:resultVariable="doubled"><bpmn:script>'
              "total = a + b\nnoted = True\n(total *\n  2)</bpmn:script></bpmn:scriptTask>")
    deploy(conformance_engine, model(chain("p", START, script, '<bpmn:userTask id="wait"/>', END)))
    started = conformance_engine.instances.start_instance("p", actor=ADMIN, variables={"a": 2, "b": 5})
    variables = inspect.instance(conformance_engine, started.id).variables
    assert variables["doubled"] == 14 and variables["total"] == 7 and variables["noted"] is True


def test_a_groovy_script_that_only_prints_fixed_text_runs_and_changes_nothing(conformance_engine):
    printing = ('<bpmn:scriptTask id="cook" scriptFormat="groovy"><bpmn:script>out:println "Cook the order"\n'
                "println('done');</bpmn:script></bpmn:scriptTask>")
    deploy(conformance_engine, model(chain("p", START, printing, '<bpmn:userTask id="wait"/>', END)))
    started = conformance_engine.instances.start_instance("p", actor=ADMIN, variables={"a": 1})
    assert inspect.completed_elements(conformance_engine, started.id) == ["start", "cook"]
    assert inspect.instance(conformance_engine, started.id).variables == {"a": 1}
    with pytest.raises(InvalidModel) as refused:  # a printed variable is Groovy this engine does not run
        deploy(conformance_engine, model(chain("q", START, printing.replace('"Cook the order"', '"Cook ${order}"'),
                                               END)))
    assert "element 'cook': scriptFormat 'groovy' is not supported" in str(refused.value)
