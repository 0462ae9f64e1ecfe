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

# long_loop.bpmn with the end replaced by a way back to the user task: a report that is filed again and again
REPEATING = (FIXTURES / "long_loop.bpmn").read_text(encoding="utf-8").replace(
    'id="long_loop"', 'id="repeating_loop"').replace('targetRef="end"', 'targetRef="set_rounds"').replace(
    '<bpmn:incoming>f_start</bpmn:incoming>', '<bpmn:incoming>f_start</bpmn:incoming><bpmn:incoming>f_end</bpmn:incoming>')


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
    engine.deploy([ModelFile("repeating.bpmn", REPEATING)], actor=ADMIN)
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
    engine.deploy([ModelFile("repeating.bpmn", REPEATING)], actor=ADMIN)
    run = Run.start(engine, "repeating_loop", {"rounds": 0}, business_key="WEEKLY")
    for week in range(1, 401):
        run.complete("set_rounds", {"loops": week})
    assert (run.status, run.variables["rounds"]) == (InstanceStatus.RUNNING, 400)
    assert run.open_task_ids() and len(json.loads(run.row.state)["tasks"]) < 20
    assert inspect.completed_elements(engine, run.id).count("set_rounds") == 400
