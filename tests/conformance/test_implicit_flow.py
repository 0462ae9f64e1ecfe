"""What Camunda 7 does without a gateway or an end event drawn: implicit forks and merges, gateway flows
without condition, subprocesses without end event, undeclared error codes, pass-through tasks. Each
model runs as Camunda runs it, and survives being saved and restored between steps."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidModel
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN
from tests.support import inspect


def flow(source: str, target: str, condition: str | None = None) -> str:
    inner = f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>" if condition else ""
    return f'<bpmn:sequenceFlow id="f_{source}_{target}" sourceRef="{source}" targetRef="{target}">{inner}' \
           "</bpmn:sequenceFlow>"


def run(engine, body: str, variables: dict | None = None) -> tuple[str, list[str]]:
    """Deploy and start `body` as process 'p', complete open user tasks one at a time (each a command
    that restores the stored state), and return the status and the elements completed in order."""
    deploy(engine, model(f'<bpmn:process id="p" isExecutable="true">{body}</bpmn:process>'))
    started = engine.instances.start_instance("p", actor=ADMIN, variables=variables or {})
    for _ in range(10):
        tasks = inspect.open_tasks(engine, started.id)
        if not tasks:
            break
        engine.tasks.complete_user_task(tasks[0].id, {}, actor=ADMIN)
    return inspect.instance(engine, started.id).status, inspect.completed_elements(engine, started.id)


def test_several_flows_out_of_a_task_fork_in_parallel(conformance_engine):
    status, done = run(conformance_engine, '<bpmn:startEvent id="s"/><bpmn:task id="t"/><bpmn:userTask id="a"/>'
                       '<bpmn:userTask id="b"/><bpmn:endEvent id="ea"/><bpmn:endEvent id="eb"/>'
                       + flow("s", "t") + flow("t", "a") + flow("t", "b") + flow("a", "ea") + flow("b", "eb"))
    assert status == "completed" and {"a", "b", "ea", "eb"} <= set(done)


def test_conditional_flows_out_of_a_task_take_each_flow_whose_condition_holds(conformance_engine):
    body = ('<bpmn:startEvent id="s"/><bpmn:task id="t"/><bpmn:userTask id="a"/><bpmn:userTask id="b"/>'
            '<bpmn:userTask id="c"/><bpmn:endEvent id="ea"/><bpmn:endEvent id="eb"/><bpmn:endEvent id="ec"/>'
            + flow("s", "t") + flow("t", "a", "${x &gt; 1}") + flow("t", "b", "${x &gt; 5}") + flow("t", "c")
            + flow("a", "ea") + flow("b", "eb") + flow("c", "ec"))
    status, done = run(conformance_engine, body, {"x": 2})
    assert status == "completed" and {"a", "c"} <= set(done) and "b" not in done


def test_a_gateway_flow_without_condition_is_taken_like_a_true_one(conformance_engine):
    body = ('<bpmn:startEvent id="s"/><bpmn:exclusiveGateway id="g"/><bpmn:userTask id="a"/>'
            '<bpmn:userTask id="b"/><bpmn:endEvent id="ea"/><bpmn:endEvent id="eb"/>'
            + flow("s", "g") + flow("g", "a", "${x == 1}") + flow("g", "b") + flow("a", "ea") + flow("b", "eb"))
    status, done = run(conformance_engine, body, {"x": 2})
    assert status == "completed" and "b" in done and "a" not in done


def test_two_flows_into_a_task_run_it_once_per_arriving_token(conformance_engine):
    body = ('<bpmn:startEvent id="s"/><bpmn:parallelGateway id="fork"/><bpmn:task id="a"/><bpmn:task id="b"/>'
            '<bpmn:userTask id="c"/><bpmn:endEvent id="e"/>'
            + flow("s", "fork") + flow("fork", "a") + flow("fork", "b") + flow("a", "c") + flow("b", "c")
            + flow("c", "e"))
    status, done = run(conformance_engine, body)
    assert status == "completed" and done.count("c") == 2


def test_a_subprocess_without_end_event_ends_when_its_work_is_done(conformance_engine):
    body = ('<bpmn:startEvent id="s"/><bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/>'
            '<bpmn:userTask id="inner"/>' + flow("ss", "inner") + '</bpmn:subProcess><bpmn:userTask id="after"/>'
            '<bpmn:endEvent id="e"/>' + flow("s", "sub") + flow("sub", "after") + flow("after", "e"))
    status, done = run(conformance_engine, body)
    assert status == "completed" and done.index("inner") < done.index("after")


def test_a_process_without_end_event_completes(conformance_engine):
    status, done = run(conformance_engine, '<bpmn:startEvent id="s"/><bpmn:userTask id="u"/>' + flow("s", "u"))
    assert status == "completed" and done[-1] == "u"


def test_an_error_reference_without_declaration_is_its_error_code(conformance_engine):
    body = ('<bpmn:startEvent id="s"/><bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/>'
            '<bpmn:endEvent id="fail"><bpmn:errorEventDefinition errorRef="PAYMENT_DECLINED"/></bpmn:endEvent>'
            + flow("ss", "fail") + '</bpmn:subProcess><bpmn:boundaryEvent id="caught" attachedToRef="sub">'
            '<bpmn:errorEventDefinition errorRef="PAYMENT_DECLINED"/></bpmn:boundaryEvent>'
            '<bpmn:userTask id="handle"/><bpmn:endEvent id="e"/><bpmn:endEvent id="e2"/>'
            + flow("s", "sub") + flow("sub", "e") + flow("caught", "handle") + flow("handle", "e2"))
    status, done = run(conformance_engine, body)
    assert status == "completed" and "handle" in done and "e" not in done


def test_plain_and_manual_tasks_pass_through(conformance_engine):
    body = ('<bpmn:startEvent id="s"/><bpmn:task id="plain"/><bpmn:manualTask id="by_hand"/>'
            '<bpmn:endEvent id="e"/>' + flow("s", "plain") + flow("plain", "by_hand") + flow("by_hand", "e"))
    deploy(conformance_engine, model(f'<bpmn:process id="p" isExecutable="true">{body}</bpmn:process>'))
    started = conformance_engine.instances.start_instance("p", actor=ADMIN)
    assert inspect.instance(conformance_engine, started.id).status == "completed"
    assert inspect.completed_elements(conformance_engine, started.id) == ["s", "plain", "by_hand", "e"]


def test_a_loop_without_a_gateway_after_a_fork_runs_round_after_round(conformance_engine, clock):
    """A task with two incoming flows merges them (each arrival runs it), so a task, a timer and back loops.
    SpiffWorkflow's prediction grew such a loop until Python's recursion limit: the instance never started."""
    body = ('<bpmn:startEvent id="start"/><bpmn:parallelGateway id="fork"/><bpmn:userTask id="stop"/>'
            '<bpmn:task id="tick"/><bpmn:intermediateCatchEvent id="pause"><bpmn:timerEventDefinition>'
            '<bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>'
            '<bpmn:endEvent id="end"><bpmn:terminateEventDefinition/></bpmn:endEvent>'
            + flow("start", "fork") + flow("fork", "stop") + flow("fork", "tick") + flow("tick", "pause")
            + flow("pause", "tick") + flow("stop", "end"))
    deploy(conformance_engine, model(f'<bpmn:process id="p" isExecutable="true">{body}</bpmn:process>'))
    started = conformance_engine.instances.start_instance("p", actor=ADMIN)
    for _ in range(3):
        clock.advance(hours=1, minutes=1)
        conformance_engine.timers.fire_due_timers()
    assert inspect.completed_elements(conformance_engine, started.id).count("tick") == 4
    [stop] = inspect.open_tasks(conformance_engine, started.id)
    conformance_engine.tasks.complete_user_task(stop.id, {}, actor=ADMIN)
    assert inspect.instance(conformance_engine, started.id).status == "completed"


def test_a_link_throw_goes_on_at_the_link_catch_of_the_same_name(conformance_engine):
    body = ('<bpmn:startEvent id="start"/><bpmn:intermediateThrowEvent id="to_page_2"><bpmn:linkEventDefinition '
            'name="page2"/></bpmn:intermediateThrowEvent><bpmn:intermediateCatchEvent id="from_page_1">'
            '<bpmn:linkEventDefinition name="page2"/></bpmn:intermediateCatchEvent><bpmn:userTask id="review"/>'
            '<bpmn:endEvent id="end"/>' + flow("start", "to_page_2") + flow("from_page_1", "review")
            + flow("review", "end"))
    status, done = run(conformance_engine, body)
    assert status == "completed" and done == ["start", "to_page_2", "from_page_1", "review", "end"]


def test_a_link_without_its_catch_is_refused_naming_it(conformance_engine):
    body = ('<bpmn:startEvent id="start"/><bpmn:intermediateThrowEvent id="jump"><bpmn:linkEventDefinition '
            'name="nowhere"/></bpmn:intermediateThrowEvent>' + flow("start", "jump"))
    with pytest.raises(InvalidModel) as refused:
        run(conformance_engine, body)
    assert "element 'jump': no link catch event named 'nowhere'" in str(refused.value)
