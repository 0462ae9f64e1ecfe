"""Multi-instance results with Camunda 7's meaning: what an instance sets, other than its element variable
and the built-in counters, lands in the process (the last completion's value wins; a value an instance did
not set is not put back), for parallel and sequential user tasks and for embedded subprocesses; the element
variable still writes back into a `camunda:collection`. Each completion is its own command, and every other
one runs on a fresh engine (a new process: specs parsed again, state restored from the database)."""

from __future__ import annotations

import pytest

from orchestrator.errors import ProcessError
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN
from tests.support import inspect

LOOP = ('<bpmn:multiInstanceLoopCharacteristics {sequential}camunda:collection="${{reviewers}}" '
        'camunda:elementVariable="reviewer"/>')
AFTER = '<bpmn:userTask id="decide" name="Decide"/><bpmn:endEvent id="end"/>'


def flows(*pairs: tuple[str, str], prefix: str = "f") -> str:
    return "".join(f'<bpmn:sequenceFlow id="{prefix}{i}" sourceRef="{a}" targetRef="{b}"/>'
                   for i, (a, b) in enumerate(pairs))


def review_task(sequential: bool) -> str:
    loop = LOOP.format(sequential='isSequential="true" ' if sequential else "")
    return f'<bpmn:userTask id="review" name="Review" camunda:assignee="${{reviewer}}">{loop}</bpmn:userTask>'


def review_subprocess(sequential: bool) -> str:
    loop = LOOP.format(sequential='isSequential="true" ' if sequential else "")
    return (f'<bpmn:subProcess id="review">{loop}<bpmn:startEvent id="review_start"/>'
            '<bpmn:userTask id="review_step" name="Review" camunda:assignee="${reviewer}"/>'
            '<bpmn:endEvent id="review_end"/>'
            + flows(("review_start", "review_step"), ("review_step", "review_end"), prefix="s")
            + "</bpmn:subProcess>")


def reviewing(process_id: str, activity: str) -> str:
    return (f'<bpmn:process id="{process_id}" isExecutable="true"><bpmn:startEvent id="start"/>{activity}{AFTER}'
            + flows(("start", "review"), ("review", "decide"), ("decide", "end")) + "</bpmn:process>")


@pytest.fixture
def engines(make_engine, sqlite_database):
    """Two engines on one database: a command on the second restores what the first saved, as a new process."""
    return make_engine(sqlite_database), make_engine(sqlite_database)


def complete_each(engines, instance_id: str, values_by_reviewer: dict[str, dict]) -> None:
    """Complete the open review of each reviewer in turn, alternating the engine that runs the command."""
    for turn, (reviewer, values) in enumerate(values_by_reviewer.items()):
        engine = engines[turn % 2]
        [task] = [t for t in inspect.open_tasks(engine, instance_id) if t.assignee == reviewer]
        engine.tasks.complete_user_task(task.id, values, actor=ADMIN)


SHAPES = {
    "parallel user task": (review_task, False),
    "sequential user task": (review_task, True),
    "parallel subprocess": (review_subprocess, False),
    "sequential subprocess": (review_subprocess, True),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_what_each_instance_sets_reaches_the_process(engines, shape):
    build, sequential = SHAPES[shape]
    engine = engines[0]
    deploy(engine, model(reviewing("reviewing", build(sequential))))
    started = engine.instances.start_instance("reviewing", actor=ADMIN, variables={
        "reviewers": ["ann", "bob", "cy"], "verdict": "none", "budget": 100})
    complete_each(engines, started.id, {
        "ann": {"verdict": "agree", "annNote": "fine"},
        "bob": {"budget": 250},  # does not set verdict: ann's stays
        "cy": {"verdict": "object"},
    })
    row = inspect.instance(engine, started.id)
    assert [t.element_id for t in inspect.open_tasks(engine, started.id)] == ["decide"]
    assert row.variables["verdict"] == "object"  # the last completion wins
    assert row.variables["annNote"] == "fine" and row.variables["budget"] == 250
    assert row.variables["reviewers"] == ["ann", "bob", "cy"]
    assert "reviewer" not in row.variables and "loopCounter" not in row.variables


def test_a_parallel_instance_that_does_not_set_a_variable_keeps_an_earlier_instances_value(engines):
    engine = engines[0]
    deploy(engine, model(reviewing("reviewing", review_task(False))))
    started = engine.instances.start_instance("reviewing", actor=ADMIN, variables={
        "reviewers": ["ann", "bob"], "verdict": "none"})
    complete_each(engines, started.id, {"ann": {"verdict": "object"}, "bob": {"comment": "ok"}})
    assert inspect.instance(engine, started.id).variables["verdict"] == "object"


def test_the_element_variable_still_writes_back_into_the_collection(engines):
    engine = engines[0]
    field = ('<bpmn:extensionElements><camunda:formData><camunda:formField id="reviewer" label="Reviewer" '
             'type="string"/><camunda:formField id="verdict" label="Verdict" type="string"/>'
             '</camunda:formData></bpmn:extensionElements>')
    task = review_task(False).replace('camunda:assignee="${reviewer}">', f'camunda:assignee="${{reviewer}}">{field}')
    deploy(engine, model(reviewing("reviewing", task)))
    started = engine.instances.start_instance("reviewing", actor=ADMIN, variables={"reviewers": ["ann", "bob"]})
    complete_each(engines, started.id, {"ann": {"reviewer": "ann (legal)", "verdict": "agree"},
                                        "bob": {"verdict": "agree"}})
    variables = inspect.instance(engine, started.id).variables
    assert variables["reviewers"] == ["ann (legal)", "bob"] and variables["verdict"] == "agree"
    assert "reviewer" not in variables


@pytest.mark.parametrize("loop", [
    '<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>${n}</bpmn:loopCardinality>'
    '</bpmn:multiInstanceLoopCharacteristics>',
    '<bpmn:multiInstanceLoopCharacteristics isSequential="true"><bpmn:loopCardinality>2</bpmn:loopCardinality>'
    '</bpmn:multiInstanceLoopCharacteristics>',
    '<bpmn:multiInstanceLoopCharacteristics camunda:collection="${reviewers}"/>',  # no element variable
])
def test_cardinality_and_a_collection_without_element_variable_give_the_same_results(engines, loop):
    engine = engines[0]
    deploy(engine, model(reviewing("reviewing", f'<bpmn:userTask id="review" name="Review">{loop}</bpmn:userTask>')))
    started = engine.instances.start_instance("reviewing", actor=ADMIN, variables={
        "reviewers": ["ann", "bob"], "n": 2, "verdict": "none"})
    for turn, values in enumerate([{"verdict": "object"}, {"comment": "ok"}]):
        [task, *_] = inspect.open_tasks(engines[turn % 2], started.id)
        engines[turn % 2].tasks.complete_user_task(task.id, values, actor=ADMIN)
    row = inspect.instance(engine, started.id)
    assert [t.element_id for t in inspect.open_tasks(engine, started.id)] == ["decide"]
    assert row.variables["verdict"] == "object" and row.variables["comment"] == "ok"
    assert row.variables["reviewers"] == ["ann", "bob"]


def test_a_cardinality_that_is_no_number_refuses_the_start_naming_the_element(engines):
    engine = engines[0]
    loop = ('<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>${reviewers}</bpmn:loopCardinality>'
            '</bpmn:multiInstanceLoopCharacteristics>')
    deploy(engine, model(reviewing("reviewing", f'<bpmn:userTask id="review" name="Review">{loop}</bpmn:userTask>')))
    with pytest.raises(ProcessError) as refused:
        engine.instances.start_instance("reviewing", actor=ADMIN, variables={"reviewers": ["ann", "bob"]})
    assert refused.value.details["element_id"] == "review"
    assert "not a number of instances" in str(refused.value)
