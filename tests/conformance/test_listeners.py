"""Execution and task listeners written as expressions or scripts run where Camunda 7 runs them; listeners calling
Java, or on events this engine does not fire, are refused on their element."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidModel, ProcessError
from tests.conformance.conftest import deploy, model
from tests.conformance.test_call_activities import task_data
from tests.conformance.test_runtime_values import END, START, chain
from tests.conftest import ADMIN
from tests.support import inspect


def listeners(*items: str) -> str:
    return f"<bpmn:extensionElements>{''.join(items)}</bpmn:extensionElements>"


def listener(event: str, body: str, kind: str = "executionListener") -> str:
    return f'<camunda:{kind} event="{event}" {body}/>'


def script_listener(event: str, text: str, script_format: str = "javascript",
                    kind: str = "executionListener") -> str:
    return (f'<camunda:{kind} event="{event}"><camunda:script scriptFormat="{script_format}"><![CDATA[{text}]]>'
            f"</camunda:script></camunda:{kind}>")


def complete(engine, instance_id: str, values: dict | None = None) -> None:
    [task] = inspect.open_tasks(engine, instance_id)
    engine.tasks.complete_user_task(task.id, values or {}, actor=ADMIN)


def variables(engine, instance_id: str) -> dict:
    return inspect.instance(engine, instance_id).variables


def test_start_and_end_listeners_run_around_the_activity_in_camunda_order(conformance_engine):
    review = ('<bpmn:userTask id="review" name="Review" camunda:assignee="${reviewer}">' + listeners(
        listener("start", 'expression="${execution.setVariable(&quot;reviewer&quot;, owner)}"'),
        script_listener("start", 'execution.setVariable("trail", [execution.getEventName() + ":" '
                                 '+ execution.getCurrentActivityId()]);'),
        script_listener("create", 'task.setVariable("trail", task.getVariable("trail").concat(["create:" + '
                                  'task.getName()]));', kind="taskListener"),
        script_listener("complete", "trail = trail + ['complete:' + verdict]", "python", kind="taskListener"),
        script_listener("end", 'execution.setVariable("trail", trail.concat(["end"]));'),
    ) + "</bpmn:userTask>")
    deploy(conformance_engine, model(chain("p", START, review, END)))
    started = conformance_engine.instances.start_instance("p", actor=ADMIN, variables={"owner": "rita"})
    # the start listener set the variable the assignee expression reads; the instance waits, saved
    [task] = inspect.open_tasks(conformance_engine, started.id)
    assert task.assignee == "rita"
    assert variables(conformance_engine, started.id)["trail"] == ["start:review", "create:Review"]
    complete(conformance_engine, started.id, {"verdict": "ok"})
    assert variables(conformance_engine, started.id)["trail"] == ["start:review", "create:Review", "complete:ok",
                                                                  "end"]
    assert inspect.instance(conformance_engine, started.id).status == "completed"


def test_a_take_listener_runs_only_when_its_flow_is_taken(conformance_engine):
    taken = listeners(listener("take", 'expression="${execution.setVariable(&apos;route&apos;, &apos;big&apos;)}"'))
    other = listeners(listener("take", 'expression="${execution.setVariable(&apos;route&apos;, &apos;small&apos;)}"'))
    body = f"""<bpmn:process id="p" isExecutable="true">{START}
      <bpmn:exclusiveGateway id="size" default="small_flow"/>
      <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="size"/>
      <bpmn:sequenceFlow id="big_flow" name="Big" sourceRef="size" targetRef="wait">{taken}
        <bpmn:conditionExpression>${{amount &gt; 100}}</bpmn:conditionExpression></bpmn:sequenceFlow>
      <bpmn:sequenceFlow id="small_flow" sourceRef="size" targetRef="wait">{other}</bpmn:sequenceFlow>
      <bpmn:userTask id="wait"/><bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="end"/>{END}
    </bpmn:process>"""
    deploy(conformance_engine, model(body))
    big = conformance_engine.instances.start_instance("p", actor=ADMIN, variables={"amount": 500})
    small = conformance_engine.instances.start_instance("p", actor=ADMIN, variables={"amount": 5})
    assert variables(conformance_engine, big.id)["route"] == "big"
    assert variables(conformance_engine, small.id)["route"] == "small"
    complete(conformance_engine, big.id)
    assert inspect.instance(conformance_engine, big.id).status == "completed"


def test_process_listeners_run_as_the_instance_starts_and_ends(conformance_engine):
    body = chain("p", START, '<bpmn:userTask id="wait"/>', END).replace(
        '<bpmn:process id="p" isExecutable="true">', '<bpmn:process id="p" isExecutable="true">' + listeners(
            script_listener("start", 'execution.setVariable("opened", execution.getEventName());'),
            script_listener("end", "closed = opened + '/end'", "python")))
    deploy(conformance_engine, model(body))
    started = conformance_engine.instances.start_instance("p", actor=ADMIN)
    assert variables(conformance_engine, started.id)["opened"] == "start"
    assert "closed" not in variables(conformance_engine, started.id)
    complete(conformance_engine, started.id)
    assert variables(conformance_engine, started.id)["closed"] == "start/end"


def test_a_catch_event_runs_its_start_listener_when_entered_not_when_its_event_comes(conformance_engine):
    timer = ('<bpmn:intermediateCatchEvent id="pause">' + listeners(
        listener("start", 'expression="${execution.setVariable(&quot;paused&quot;, true)}"'),
        listener("end", 'expression="${execution.setVariable(&quot;resumed&quot;, true)}"')) +
        '<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>'
        '</bpmn:intermediateCatchEvent>')
    deploy(conformance_engine, model(chain("p", START, timer, '<bpmn:userTask id="wait"/>', END)))
    started = conformance_engine.instances.start_instance("p", actor=ADMIN)
    assert variables(conformance_engine, started.id) == {"paused": True}


def test_a_failing_listener_stops_the_command_naming_its_element(conformance_engine):
    review = ('<bpmn:userTask id="review">' + listeners(script_listener("start", "var a = 1;\nmissing.x")) +
              "</bpmn:userTask>")
    deploy(conformance_engine, model(chain("p", START, review, END)))
    with pytest.raises(ProcessError) as refused:
        conformance_engine.instances.start_instance("p", actor=ADMIN)
    assert refused.value.details["element_id"] == "review"
    assert "JavaScript line 2: ReferenceError: 'missing' is not defined" in str(refused.value)


MULTI = '<bpmn:multiInstanceLoopCharacteristics camunda:collection="${items}" camunda:elementVariable="item"/>'


@pytest.mark.parametrize(("element", "words"), [
    ('<bpmn:userTask id="work">' + listeners(listener("start", 'class="com.acme.Audit"')) + "</bpmn:userTask>",
     "camunda:executionListener calls Java code (class 'com.acme.Audit')"),
    ('<bpmn:userTask id="work">' + listeners(listener("create", 'delegateExpression="${audit}"', "taskListener"))
     + "</bpmn:userTask>", "camunda:taskListener calls Java code (delegateExpression '${audit}')"),
    ('<bpmn:userTask id="work">' + listeners(script_listener("end", "def total = 1", "groovy")) + "</bpmn:userTask>",
     "camunda:executionListener scriptFormat 'groovy' is not supported"),
    ('<bpmn:userTask id="work">' + listeners(listener("assignment", 'expression="${true}"', "taskListener"))
     + "</bpmn:userTask>", "camunda:taskListener event 'assignment' is not supported on a userTask"),
    ('<bpmn:manualTask id="work">' + listeners(listener("create", 'expression="${true}"', "taskListener"))
     + "</bpmn:manualTask>", "camunda:taskListener belongs on a user task"),
    ('<bpmn:userTask id="work">' + listeners(listener("start", 'expression="${audit.log(execution)}"'))
     + "</bpmn:userTask>", "listener expression '${audit.log(execution)}'"),
    ('<bpmn:userTask id="work">' + listeners(script_listener("start", "var = ;")) + "</bpmn:userTask>",
     "listener script: JavaScript line 1: SyntaxError"),
])
def test_a_listener_this_engine_cannot_call_is_refused_on_its_element(conformance_engine, element, words):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(chain("p", START, element, END)))
    assert f"element 'work': {words}" in str(refused.value), str(refused.value)


def test_a_take_listener_after_an_event_based_gateway_is_refused_on_its_flow(conformance_engine):
    body = f"""<bpmn:process id="p" isExecutable="true">{START}<bpmn:eventBasedGateway id="race"/>
      <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="race"/>
      <bpmn:sequenceFlow id="to_timer" sourceRef="race" targetRef="late">
        {listeners(listener("take", 'expression="${true}"'))}</bpmn:sequenceFlow>
      <bpmn:intermediateCatchEvent id="late"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="f2" sourceRef="late" targetRef="end"/>{END}</bpmn:process>"""
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(body))
    assert "element 'to_timer': camunda:executionListener on a flow leaving an event-based gateway" in \
        str(refused.value)


def test_a_subprocess_start_listener_runs_before_anything_inside_sees_the_variables(conformance_engine):
    inner = ('<bpmn:startEvent id="in_start"/><bpmn:userTask id="inner" camunda:assignee="${handler}"/>'
             '<bpmn:endEvent id="in_end"/><bpmn:sequenceFlow id="s1" sourceRef="in_start" targetRef="inner"/>'
             '<bpmn:sequenceFlow id="s2" sourceRef="inner" targetRef="in_end"/>')
    sub = ('<bpmn:subProcess id="handle">' + listeners(
        listener("start", 'expression="${execution.setVariable(&quot;handler&quot;, &quot;sam&quot;)}"'),
        script_listener("end", "handled = handler + ' done'", "python")) + inner + "</bpmn:subProcess>")
    deploy(conformance_engine, model(chain("p", START, sub, '<bpmn:userTask id="wait"/>', END)))
    started = conformance_engine.instances.start_instance("p", actor=ADMIN)
    [task] = inspect.open_tasks(conformance_engine, started.id)
    assert task.element_id == "inner" and task.assignee == "sam"
    complete(conformance_engine, started.id)
    assert variables(conformance_engine, started.id)["handled"] == "sam done"


def test_listeners_on_a_multi_instance_activity_run_for_each_instance(conformance_engine):
    sign = ('<bpmn:userTask id="sign">' + listeners(
        listener("create", 'expression="${task.setVariable(&quot;greeting&quot;, item)}"', "taskListener"),
        script_listener("end", 'execution.setVariable("signedBy", item);')) + MULTI + "</bpmn:userTask>")
    deploy(conformance_engine, model(chain("p", START, sign, '<bpmn:userTask id="wait"/>', END)))
    started = conformance_engine.instances.start_instance("p", actor=ADMIN, variables={"items": ["ann", "bob"]})
    tasks = inspect.open_tasks(conformance_engine, started.id)
    assert sorted(task_data(conformance_engine, started.id, t.id)["greeting"] for t in tasks) == ["ann", "bob"]
    for task in tasks:
        conformance_engine.tasks.complete_user_task(task.id, {}, actor=ADMIN)
    # each instance's end listener ran; as in Camunda, the last completion's variable wins
    assert variables(conformance_engine, started.id)["signedBy"] == "bob"
