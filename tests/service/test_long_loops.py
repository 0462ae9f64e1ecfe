"""Loops run for years: the finished part of the task tree is pruned, so SpiffWorkflow's depth-1000
search limit is never reached and the stored state stays the size of what is still running."""

from __future__ import annotations

import json

import pytest

from orchestrator.definitions import ModelFile
from orchestrator.models import InstanceStatus
from tests.conftest import ADMIN, FIXTURES, deploy_fixture
from tests.processes.driver import Run
from tests.support import inspect

# long_loop.bpmn with the end replaced by a way back to the user task (and the unreachable end event removed):
# a report that is filed again and again
REPEATING = (FIXTURES / "long_loop.bpmn").read_text(encoding="utf-8").replace(
    'id="long_loop"', 'id="repeating_loop"').replace('targetRef="end"', 'targetRef="set_rounds"').replace(
    '<bpmn:incoming>f_start</bpmn:incoming>', '<bpmn:incoming>f_start</bpmn:incoming><bpmn:incoming>f_end</bpmn:incoming>'
).replace('<bpmn:endEvent id="end">\n      <bpmn:incoming>f_end</bpmn:incoming>\n    </bpmn:endEvent>', '')


@pytest.mark.timeout(600)
def test_a_loop_of_ten_thousand_rounds_runs_to_its_end(make_engine, database):
    engine = make_engine(database)
    deploy_fixture(engine, "long_loop.bpmn")
    run = Run.start(engine, "long_loop", {"rounds": 0}, business_key="LOOP-10000")
    run.complete("set_rounds", {"loops": 10_000})
    assert (run.status, run.variables["rounds"]) == (InstanceStatus.COMPLETED, 10_000)
    path = inspect.completed_elements(engine, run.id)
    assert path.count("count_round") == 10_000 and path[-1] == "end"  # the history keeps every round


def test_state_after_thousands_of_tasks_is_the_size_of_what_still_runs(make_engine, sqlite_database):
    engine = make_engine(sqlite_database)
    engine.deployments.deploy([ModelFile("repeating.bpmn", REPEATING)], actor=ADMIN)
    run = Run.start(engine, "repeating_loop", {"rounds": 0}, business_key="REPORTS")
    run.complete("set_rounds", {"loops": 3})  # ~10 completed tasks
    small = len(run.row.state)
    run.complete("set_rounds", {"loops": 2_000})  # ~6,000 more
    assert run.variables["rounds"] == 2_000 and run.open_task_ids() and run.status == InstanceStatus.RUNNING
    assert len(run.row.state) <= 2 * small
    assert len(json.loads(run.row.state)["tasks"]) < 20


def test_a_user_task_loop_filed_hundreds_of_times_keeps_working(make_engine, sqlite_database):
    """Past the ~195 rounds where a user-task loop used to look completed with a task still open."""
    engine = make_engine(sqlite_database)
    engine.deployments.deploy([ModelFile("repeating.bpmn", REPEATING)], actor=ADMIN)
    run = Run.start(engine, "repeating_loop", {"rounds": 0}, business_key="WEEKLY")
    for week in range(1, 401):
        run.complete("set_rounds", {"loops": week})
    assert (run.status, run.variables["rounds"]) == (InstanceStatus.RUNNING, 400)
    assert run.open_task_ids() and len(json.loads(run.row.state)["tasks"]) < 20
    assert inspect.completed_elements(engine, run.id).count("set_rounds") == 400


def _user_task(element_id: str, field: str) -> str:
    return (f'<bpmn:userTask id="{element_id}" camunda:candidateGroups="qa"><bpmn:extensionElements>'
            f'<camunda:formData><camunda:formField id="{field}" type="long" /></camunda:formData>'
            "</bpmn:extensionElements></bpmn:userTask>")


PARALLEL_LOOP = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
    'id="d" targetNamespace="http://loopline.dev/test"><bpmn:process id="parallel_loop" isExecutable="true">'
    '<bpmn:startEvent id="start" /><bpmn:exclusiveGateway id="again" />'
    '<bpmn:parallelGateway id="split" /><bpmn:parallelGateway id="join" />'
    + _user_task("a", "a_value") + _user_task("b", "b_value") + _user_task("c", "c_value")
    + _user_task("decide", "more")
    + '<bpmn:exclusiveGateway id="more_q" default="f_end" /><bpmn:endEvent id="end" />'
    + "".join(f'<bpmn:sequenceFlow id="f_{s}_{t}" sourceRef="{s}" targetRef="{t}" />' for s, t in [
        ("start", "again"), ("again", "split"), ("split", "a"), ("split", "b"), ("split", "c"),
        ("a", "join"), ("b", "join"), ("c", "join"), ("join", "decide"), ("decide", "more_q")])
    + '<bpmn:sequenceFlow id="f_more" sourceRef="more_q" targetRef="again">'
      '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${more == 1}</bpmn:conditionExpression>'
      '</bpmn:sequenceFlow><bpmn:sequenceFlow id="f_end" sourceRef="more_q" targetRef="end" />'
    + "</bpmn:process></bpmn:definitions>")


def test_a_three_way_join_waits_for_every_branch_across_commands_while_the_tree_is_pruned(
        make_engine, sqlite_database):
    engine = make_engine(sqlite_database)
    engine.deployments.deploy([ModelFile("parallel.bpmn", PARALLEL_LOOP)], actor=ADMIN)
    run = Run.start(engine, "parallel_loop", {}, business_key="PAR")
    for round_ in range(1, 4):
        run.complete("a", {"a_value": round_})
        run.complete("b", {"b_value": round_})
        assert run.open_task_ids() == ["c"]  # the join still waits for c, whose sibling branches were pruned
        run.complete("c", {"c_value": round_})
        assert run.open_task_ids() == ["decide"]
        values = run.variables
        # (SpiffWorkflow lets the last branch's copy of an earlier round's value win at a join in a loop,
        # pruned or not: only the first round shows every branch's own value)
        assert values["c_value"] == round_ and (round_ > 1 or (values["a_value"], values["b_value"]) == (1, 1))
        run.complete("decide", {"more": 1 if round_ < 3 else 0})
    assert run.status == InstanceStatus.COMPLETED
    assert inspect.completed_elements(engine, run.id).count("join") == 3
