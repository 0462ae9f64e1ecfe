"""Timer values that hung the engine are refused at deploy or fail their command quickly, naming the element.

Finding 3: `timeDuration` `P9999999999Y` deployed and then spun at 93 % CPU holding the write lock
(SpiffWorkflow adds durations a month at a time: `P1000000Y` took 8 s), and a non-interrupting
`timeCycle` `R/PT0S` never returned from `do_engine_steps`; `dueDate` / `followUpDate` share the code.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from orchestrator.definitions import ModelFile
from orchestrator.errors import InvalidModel, ProcessError
from orchestrator.models import Deployment, HumanTask, InstanceStatus, JobStatus, ProcessInstance
from orchestrator.timer_values import add_duration, parse_duration, subtract_duration
from tests.conftest import ADMIN
from tests.support import inspect

QUICK = 2.0  # seconds: every refusal below took from 8 s to forever before

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://loopline.test">
 <bpmn:process id="timers" isExecutable="true">
  <bpmn:startEvent id="start"/>"""
TAIL = """
 </bpmn:process>
</bpmn:definitions>"""


def timer(kind: str, value: str) -> str:
    return f"<bpmn:timerEventDefinition><bpmn:{kind}>{value}</bpmn:{kind}></bpmn:timerEventDefinition>"


def waiting_model(kind: str, value: str) -> str:
    """start → intermediate timer 'wait' → end."""
    return HEAD + f"""
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
  <bpmn:intermediateCatchEvent id="wait">{timer(kind, value)}</bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
  <bpmn:endEvent id="end"/>""" + TAIL


def reminder_model(cycle: str, task_attributes: str = "") -> str:
    """start → user task 'work' with a non-interrupting cycle boundary timer 'remind' → end."""
    return HEAD + f"""
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
  <bpmn:userTask id="work" camunda:candidateGroups="qa" {task_attributes}/>
  <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
  <bpmn:endEvent id="end"/>
  <bpmn:boundaryEvent id="remind" attachedToRef="work" cancelActivity="false">{timer("timeCycle", cycle)}
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="remind" targetRef="reminded"/>
  <bpmn:endEvent id="reminded"/>""" + TAIL


def due_model(attributes: str) -> str:
    """start → user task 'first' → user task 'second' (with the given camunda attributes) → end."""
    return HEAD + f"""
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
  <bpmn:userTask id="first" camunda:candidateGroups="qa"/>
  <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="second"/>
  <bpmn:userTask id="second" camunda:candidateGroups="qa" {attributes}/>
  <bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="end"/>
  <bpmn:endEvent id="end"/>""" + TAIL


def after_job_model(value: str) -> str:
    """start → external service task 'stock' → duration timer 'wait' → end."""
    return HEAD + f"""
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="stock"/>
  <bpmn:serviceTask id="stock" camunda:type="external" camunda:topic="test.stock"/>
  <bpmn:sequenceFlow id="f2" sourceRef="stock" targetRef="wait"/>
  <bpmn:intermediateCatchEvent id="wait">{timer("timeDuration", value)}</bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="end"/>
  <bpmn:endEvent id="end"/>""" + TAIL


def after_task_model(value: str) -> str:
    """start → user task 'first' → duration timer 'wait' → end."""
    return HEAD + f"""
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
  <bpmn:userTask id="first" camunda:candidateGroups="qa"/>
  <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="wait"/>
  <bpmn:intermediateCatchEvent id="wait">{timer("timeDuration", value)}</bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="end"/>
  <bpmn:endEvent id="end"/>""" + TAIL


def after_timer_model(value: str) -> str:
    """start → PT1H timer 'first_wait' → duration timer 'second_wait' → end."""
    return HEAD + f"""
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first_wait"/>
  <bpmn:intermediateCatchEvent id="first_wait">{timer("timeDuration", "PT1H")}</bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="first_wait" targetRef="second_wait"/>
  <bpmn:intermediateCatchEvent id="second_wait">{timer("timeDuration", value)}</bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="second_wait" targetRef="end"/>
  <bpmn:endEvent id="end"/>""" + TAIL


@pytest.fixture
def engine(make_engine, sqlite_database):
    return make_engine(sqlite_database)


def deploy(engine, bpmn: str):
    return engine.deployments.deploy([ModelFile("timers.bpmn", bpmn)], actor=ADMIN)


def count(engine, table) -> int:
    with engine.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(table))


def timed(call):
    started = time.monotonic()
    try:
        return call()
    finally:
        assert time.monotonic() - started < QUICK, "took too long"


# -- deploy: literal values bounded, the element named ---------------------------------------------

REFUSED_LITERALS = {
    "duration_9999999999_years": (waiting_model("timeDuration", "P9999999999Y"), "wait", "more than 10 years"),
    "duration_1000000_years": (waiting_model("timeDuration", "P1000000Y"), "wait", "more than 10 years"),
    "duration_11_years": (waiting_model("timeDuration", "P11Y"), "wait", "more than 10 years"),
    "duration_in_hours": (waiting_model("timeDuration", "PT99999999999H"), "wait", "more than 10 years"),
    "quoted_duration": (waiting_model("timeDuration", "'P9999999999Y'"), "wait", "more than 10 years"),
    "date_far_ahead": (waiting_model("timeDate", "9999-01-01T00:00:00Z"), "wait", "more than 10 years"),
    "cycle_every_0s": (reminder_model("R/PT0S"), "remind", "repeats every 0 s"),
    "cycle_5_times_0s": (reminder_model("R5/PT0S"), "remind", "repeats every 0 s"),
    "cycle_every_100us": (reminder_model("R/PT0.0001S"), "remind", "repeats every 0.0001 s"),
    "cycle_from_a_date_every_0s": (reminder_model("R/2026-01-01T00:00:00Z/PT0S"), "remind", "repeats every 0 s"),
    "cycle_of_huge_intervals": (reminder_model("R/P9999999999Y"), "remind", "more than 10 years"),
    "due_date": (due_model('camunda:dueDate="P9999999999Y"'), "second", "more than 10 years"),
    "follow_up_date": (due_model('camunda:followUpDate="P1000000Y"'), "second", "more than 10 years"),
    "follow_up_cycle": (due_model('camunda:followUpDate="R/PT0S"'), "second", "repeats every 0 s"),
}


@pytest.mark.parametrize("name", sorted(REFUSED_LITERALS))
def test_out_of_range_literal_is_refused_at_deploy_naming_the_element(engine, name):
    bpmn, element, reason = REFUSED_LITERALS[name]
    with pytest.raises(InvalidModel) as refused:
        timed(lambda: deploy(engine, bpmn))
    assert any(f"element '{element}'" in p and reason in p for p in refused.value.problems), refused.value.problems
    assert count(engine, Deployment) == 0


@pytest.mark.parametrize("bpmn", [
    waiting_model("timeDuration", "P10Y"), waiting_model("timeDuration", "PT0S"), reminder_model("R/PT1S"),
    reminder_model("R3/PT24H"), due_model('camunda:dueDate="P3650D" camunda:followUpDate="P120M"'),
], ids=["10_years", "zero_wait", "every_second", "three_daily", "due_10_years"])
def test_values_inside_the_bounds_still_deploy(engine, bpmn):
    [deployed] = deploy(engine, bpmn)
    assert deployed.key == "timers"


# -- run time: values computed from variables fail their command, naming the element ---------------

@pytest.mark.parametrize("value, reason", [
    ("P9999999999Y", "more than 10 years"), ("P1000000Y", "more than 10 years"), ("soon", "not an ISO 8601"),
])
def test_duration_from_a_variable_fails_the_start_quickly(engine, value, reason):
    deploy(engine, waiting_model("timeDuration", "${wait}"))
    with pytest.raises(ProcessError) as failed:
        timed(lambda: engine.instances.start_instance("timers", actor=ADMIN, variables={"wait": value}))
    assert "element 'wait'" in failed.value.message and reason in failed.value.message
    assert count(engine, ProcessInstance) == 0


def test_date_from_a_variable_too_far_ahead_fails_the_start(engine):
    deploy(engine, waiting_model("timeDate", "${when}"))
    with pytest.raises(ProcessError) as failed:
        timed(lambda: engine.instances.start_instance("timers", actor=ADMIN, variables={"when": "9999-12-31T00:00:00Z"}))
    assert "element 'wait'" in failed.value.message and "more than 10 years" in failed.value.message


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cycle", ["R/PT0S", "R5/PT0S", "R/PT0.0001S", "R/P9999999999Y"])
def test_non_interrupting_cycle_from_a_variable_fails_instead_of_spinning(engine, cycle):
    deploy(engine, reminder_model("${every}"))
    with pytest.raises(ProcessError) as failed:
        timed(lambda: engine.instances.start_instance("timers", actor=ADMIN, variables={"every": cycle}))
    assert "element 'remind'" in failed.value.message
    assert count(engine, ProcessInstance) == 0


@pytest.mark.parametrize("attribute, value, reason", [
    ("dueDate", "P9999999999Y", "more than 10 years"),
    ("dueDate", "next tuesday", "not an ISO 8601"),
    ("followUpDate", "P1000000Y", "more than 10 years"),
    ("followUpDate", "R/PT0S", "not an ISO 8601"),
    ("followUpDate", "9999-12-31", "more than 10 years"),
])
def test_due_dates_from_a_variable_refuse_the_completion_that_reaches_them(engine, attribute, value, reason):
    deploy(engine, due_model(f'camunda:{attribute}="${{later}}"'))
    row = engine.instances.start_instance("timers", actor=ADMIN, variables={"later": value})
    [first] = inspect.open_tasks(engine, row.id)
    version = inspect.instance(engine, row.id).version
    with pytest.raises(ProcessError) as failed:
        timed(lambda: engine.tasks.complete_user_task(first.id, {}, actor=ADMIN))
    message = failed.value.message
    assert "element 'second'" in message and f"camunda:{attribute}" in message and reason in message
    assert [t.element_id for t in inspect.open_tasks(engine, row.id)] == ["first"]  # nothing changed
    assert inspect.instance(engine, row.id).version == version


def test_timer_value_typed_into_a_form_refuses_that_completion(engine):
    deploy(engine, after_task_model("${later}"))
    row = engine.instances.start_instance("timers", actor=ADMIN)
    [first] = inspect.open_tasks(engine, row.id)
    with pytest.raises(ProcessError) as failed:
        timed(lambda: engine.tasks.complete_user_task(first.id, {"later": "P9999999999Y"}, actor=ADMIN))
    assert "element 'wait'" in failed.value.message and "more than 10 years" in failed.value.message
    assert [t.element_id for t in inspect.open_tasks(engine, row.id)] == ["first"]
    engine.tasks.complete_user_task(first.id, {"later": "PT2H"}, actor=ADMIN)
    assert inspect.open_tasks(engine, row.id) == []


def test_due_dates_inside_the_bounds_are_stored(engine, clock):
    deploy(engine, due_model('camunda:dueDate="${due}" camunda:followUpDate="${follow}"'))
    row = engine.instances.start_instance("timers", actor=ADMIN, variables={"due": "P10Y", "follow": "2027-01-01T09:00:00Z"})
    [first] = inspect.open_tasks(engine, row.id)
    engine.tasks.complete_user_task(first.id, {}, actor=ADMIN)
    [second] = inspect.open_tasks(engine, row.id)
    assert second.due_at == datetime(2036, 1, 5, 9, 0, tzinfo=UTC)
    assert second.follow_up_at == datetime(2027, 1, 1, 9, 0, tzinfo=UTC)


def test_out_of_range_timer_after_a_job_becomes_an_incident_on_the_instance(engine):
    deploy(engine, after_job_model("${wait}"))
    row = engine.instances.start_instance("timers", actor=ADMIN, variables={"wait": "P9999999999Y"})
    [job] = inspect.jobs(engine, row.id)
    assert timed(lambda: engine.jobs.run_job(job.id, "worker")) == "incident"
    [incident] = engine.queries.open_incidents(ADMIN, instance_id=row.id)
    assert "element 'wait'" in incident.message and "more than 10 years" in incident.message
    assert inspect.jobs(engine, row.id)[0].status == JobStatus.INCIDENT
    assert inspect.instance(engine, row.id).status == InstanceStatus.RUNNING


def test_out_of_range_timer_reached_by_a_timer_becomes_an_incident_and_stops_firing(engine, clock):
    deploy(engine, after_timer_model("${wait}"))
    row = engine.instances.start_instance("timers", actor=ADMIN, variables={"wait": "P9999999999Y"})
    clock.advance(hours=1, seconds=1)
    assert timed(engine.timers.fire_due_timers) == []
    [failure] = [e for e in inspect.history(engine, row.id) if e.type == "timer_failed"]
    assert "element 'second_wait'" in failure.payload["error"] and "more than 10 years" in failure.payload["error"]
    [incident] = engine.queries.open_incidents(ADMIN, instance_id=row.id)
    assert incident.element_id == "second_wait" and incident.job_id is None
    instance = inspect.instance(engine, row.id)
    assert instance.status == InstanceStatus.RUNNING
    assert instance.next_timer_at is None  # waits for a person's retry instead of failing every minute


# -- constant time: what SpiffWorkflow looped over is computed at once -----------------------------

@pytest.mark.timeout(30)
def test_a_cycle_that_fell_far_behind_fires_once_at_once(engine, clock):
    deploy(engine, reminder_model("R/PT1S"))
    row = engine.instances.start_instance("timers", actor=ADMIN)
    clock.advance(days=365)  # SpiffWorkflow replayed all 31 million missed reminders in one command
    assert timed(engine.timers.fire_due_timers) == [row.id]
    assert inspect.completed_elements(engine, row.id).count("reminded") == 1
    assert inspect.instance(engine, row.id).next_timer_at == clock.now()  # the next occurrence, not a past one
    clock.advance(seconds=1.5)
    engine.timers.fire_due_timers()
    assert inspect.completed_elements(engine, row.id).count("reminded") == 2


def test_a_counted_cycle_that_fell_behind_spends_its_missed_repetitions(engine, clock):
    deploy(engine, reminder_model("R3/PT24H"))
    row = engine.instances.start_instance("timers", actor=ADMIN)
    clock.advance(days=2, hours=1)
    engine.timers.fire_due_timers()
    assert inspect.completed_elements(engine, row.id).count("reminded") == 1
    clock.advance(days=1)
    engine.timers.fire_due_timers()
    assert inspect.completed_elements(engine, row.id).count("reminded") == 2
    assert inspect.instance(engine, row.id).next_timer_at is None  # all three occurrences are spent


def test_ten_years_ahead_is_computed_in_constant_time(engine, clock):
    deploy(engine, waiting_model("timeDuration", "${wait}"))
    started = time.perf_counter()
    row = engine.instances.start_instance("timers", actor=ADMIN, variables={"wait": "P10Y"})
    assert time.perf_counter() - started < 0.5
    assert inspect.instance(engine, row.id).next_timer_at == datetime(2036, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("start", [
    datetime(2026, 1, 31, 9, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC), datetime(2026, 12, 15, tzinfo=UTC),
])
@pytest.mark.parametrize("duration", ["P1M", "P13M", "P1Y", "P2Y3M4DT5H6M7S", "P10Y", "P2W", "PT36H", "P1Y0.5M"])
def test_calendar_arithmetic_matches_spiffworkflow(start, duration):
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as Spiff

    if "." in duration:  # SpiffWorkflow cannot add fractional months; ours adds half the target month
        assert add_duration(start, parse_duration(duration)) > add_duration(start, parse_duration("P1Y"))
        return
    assert add_duration(start, parse_duration(duration)) == start + Spiff.get_timedelta_from_start(
        parse_duration(duration), start)
    assert subtract_duration(start, parse_duration(duration)) == start - Spiff.get_timedelta_from_end(
        parse_duration(duration), start)


def test_no_instance_is_left_holding_the_lock(engine):
    """After every refusal above the database answers at once (the write lock is free)."""
    deploy(engine, waiting_model("timeDuration", "${wait}"))
    with pytest.raises(ProcessError):
        engine.instances.start_instance("timers", actor=ADMIN, variables={"wait": "P9999999999Y"})
    row = timed(lambda: engine.instances.start_instance("timers", actor=ADMIN, variables={"wait": "PT1H"}))
    assert count(engine, ProcessInstance) == 1 and count(engine, HumanTask) == 0
    assert inspect.instance(engine, row.id).status == InstanceStatus.RUNNING
