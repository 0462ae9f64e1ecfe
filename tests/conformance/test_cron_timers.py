"""Quartz cron `timeCycle` (`0 0 9 * * ?`), as the Camunda Modeler writes it: on boundary timers (both kinds),
intermediate timer catch events and timer start events, due at the cron's next fire time in UTC.

The manual clock starts on Monday 2026-01-05 at 09:00:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.errors import InvalidModel, ProcessError
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN
from tests.support import inspect


def timer(cycle: str) -> str:
    return f"<bpmn:timerEventDefinition><bpmn:timeCycle>{cycle}</bpmn:timeCycle></bpmn:timerEventDefinition>"


def reminder(cycle: str, interrupting: bool = False) -> str:
    """start → user task 'work' with a cron boundary timer 'remind' → end (the timer's path: 'reminded')."""
    cancel = "true" if interrupting else "false"
    return f"""<bpmn:process id="cron" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
  <bpmn:userTask id="work" camunda:candidateGroups="qa"/>
  <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
  <bpmn:endEvent id="end"/>
  <bpmn:boundaryEvent id="remind" attachedToRef="work" cancelActivity="{cancel}">{timer(cycle)}</bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="remind" targetRef="reminded"/>
  <bpmn:endEvent id="reminded"/>
</bpmn:process>"""


def waiting(cycle: str) -> str:
    """start → intermediate cron timer 'wait' → user task 'after' → end."""
    return f"""<bpmn:process id="cron" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
  <bpmn:intermediateCatchEvent id="wait">{timer(cycle)}</bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="after"/>
  <bpmn:userTask id="after" camunda:candidateGroups="qa"/>
  <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>"""


def timer_start(cycle: str) -> str:
    """cron timer start event 'daily' → user task 'review' → end."""
    return f"""<bpmn:process id="cron" isExecutable="true">
  <bpmn:startEvent id="daily">{timer(cycle)}</bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="daily" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="qa"/>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>"""


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


def due(engine, instance_id: str) -> datetime | None:
    return inspect.instance(engine, instance_id).next_timer_at


def reminders(engine, instance_id: str) -> int:
    return inspect.completed_elements(engine, instance_id).count("reminded")


def open_elements(engine, instance_id: str) -> list[str]:
    return sorted(task.element_id for task in inspect.open_tasks(engine, instance_id))


def test_non_interrupting_boundary_fires_at_the_next_nine_and_again_the_next_day(conformance_engine, clock):
    engine = conformance_engine
    clock.set(at(5, 8, 30))
    deploy(engine, model(reminder("0 0 9 * * ?")))
    row = engine.instances.start_instance("cron", actor=ADMIN)
    assert due(engine, row.id) == at(5, 9)  # today's 09:00 is still ahead

    clock.set(at(5, 9, 0, 1))
    assert engine.timers.fire_due_timers() == [row.id]
    assert reminders(engine, row.id) == 1
    assert open_elements(engine, row.id) == ["work"]  # a reminder: the task stays
    assert due(engine, row.id) == at(6, 9)

    clock.set(at(5, 23))
    assert engine.timers.fire_due_timers() == []
    clock.set(at(6, 9, 0, 1))
    assert engine.timers.fire_due_timers() == [row.id]
    assert reminders(engine, row.id) == 2
    assert due(engine, row.id) == at(7, 9)


def test_boundary_started_after_nine_is_due_tomorrow(conformance_engine, clock):
    engine = conformance_engine
    clock.set(at(5, 9, 0, 0))
    deploy(engine, model(reminder("0 0 9 * * ?")))
    row = engine.instances.start_instance("cron", actor=ADMIN)
    assert due(engine, row.id) == at(6, 9)  # the next fire time is strictly after now


def test_interrupting_boundary_cancels_the_task_at_the_next_fire_time(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(reminder("0 30 17 ? * MON-FRI", interrupting=True)))
    row = engine.instances.start_instance("cron", actor=ADMIN)
    assert due(engine, row.id) == at(5, 17, 30)
    clock.set(at(5, 17, 30, 1))
    assert engine.timers.fire_due_timers() == [row.id]
    assert open_elements(engine, row.id) == []
    assert "reminded" in inspect.completed_elements(engine, row.id)
    assert "work" not in inspect.completed_elements(engine, row.id)
    assert due(engine, row.id) is None


def test_cron_that_fell_behind_fires_once_and_resumes_on_schedule(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(reminder("0 0 9 * * ?")))
    row = engine.instances.start_instance("cron", actor=ADMIN)
    assert due(engine, row.id) == at(6, 9)
    clock.set(at(9, 12))  # the server was down from Tuesday to Friday noon: four 09:00s missed
    assert engine.timers.fire_due_timers() == [row.id]
    assert reminders(engine, row.id) == 1
    assert due(engine, row.id) == at(10, 9)


def test_intermediate_catch_event_waits_for_the_next_five_minute_mark(conformance_engine, clock):
    engine = conformance_engine
    clock.set(at(5, 9, 2, 30))
    deploy(engine, model(waiting("0 0/5 * * * ?")))
    row = engine.instances.start_instance("cron", actor=ADMIN)
    assert due(engine, row.id) == at(5, 9, 5)
    assert open_elements(engine, row.id) == []
    clock.set(at(5, 9, 5, 1))
    assert engine.timers.fire_due_timers() == [row.id]
    assert open_elements(engine, row.id) == ["after"]
    assert due(engine, row.id) is None


def test_timer_start_event_with_cron_starts_the_process_at_its_fire_time(conformance_engine, clock):
    """As in Camunda 7, deploying schedules the timer start: each fire time starts a new instance."""
    engine = conformance_engine
    deploy(engine, model(timer_start("0 0 6 ? * MON-FRI")))
    assert engine.timers.next_due_at() == at(6, 6)  # Tuesday 06:00
    clock.set(at(6, 6, 0, 1))
    [first] = engine.timers.fire_due_timers()
    assert open_elements(engine, first) == ["review"]
    assert due(engine, first) is None  # the instance does not wait at its start timer
    assert engine.timers.next_due_at() == at(7, 6)
    clock.set(at(7, 6, 0, 1))
    [second] = engine.timers.fire_due_timers()
    assert second != first and open_elements(engine, second) == ["review"]


def test_last_friday_of_the_month(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(reminder("0 15 10 ? * 6L")))
    row = engine.instances.start_instance("cron", actor=ADMIN)
    assert due(engine, row.id) == at(30, 10, 15)


def test_cron_from_a_variable_runs_and_a_bad_one_fails_the_start_naming_the_element(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(reminder("${schedule}")))
    row = engine.instances.start_instance("cron", actor=ADMIN, variables={"schedule": "0 0 12 * * ?"})
    assert due(engine, row.id) == at(5, 12)
    with pytest.raises(ProcessError) as failed:
        engine.instances.start_instance("cron", actor=ADMIN, variables={"schedule": "0 0 12 * *"})
    assert "element 'remind'" in failed.value.message
    assert "6 or 7" in failed.value.message


@pytest.mark.parametrize("cycle, reason", [
    ("0 0 9 * *", "has 5 fields; a Quartz cron expression has 6 or 7"),
    ("0 0 9 * * *", "exactly one of day-of-month and day-of-week must be '?'"),
    ("0 61 9 * * ?", "minutes field '61': 61 is outside 0-59"),
    ("0 0 9 ? * 6#6", "the week after '#' must be a number from 1 to 5"),
    ("0 0 9 ? * FUN", "'FUN' is not a number from 1 to 7 or a name SUN-SAT"),
    ("0 0 0 30 2 ?", "never fires"),
    ("0 0 0 * * ? 2020", "never fires"),
    ("0 0 0 1 1 ? 2099", "more than 10 years ahead"),
], ids=["five_fields", "both_days", "minute_61", "sixth_friday", "bad_day_name", "february_30", "past_year",
        "far_year"])
def test_invalid_cron_is_refused_at_deploy_naming_the_element(conformance_engine, cycle, reason):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(reminder(cycle)))
    assert any("element 'remind'" in problem and reason in problem for problem in refused.value.problems), \
        refused.value.problems


def test_invalid_cron_on_a_start_event_is_refused_naming_it(conformance_engine):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(timer_start("0 0 25 * * ?")))
    assert any("element 'daily'" in problem and "hours field '25'" in problem
               for problem in refused.value.problems), refused.value.problems


def test_iso_cycle_takes_the_same_path_on_an_interrupting_boundary(conformance_engine, clock):
    """`R/PT1H` on an interrupting boundary fires once, at its first occurrence, and cancels the task."""
    engine = conformance_engine
    deploy(engine, model(reminder("R/PT1H", interrupting=True)))
    row = engine.instances.start_instance("cron", actor=ADMIN)
    assert due(engine, row.id) == at(5, 10)
    clock.set(at(5, 10, 0, 1))
    assert engine.timers.fire_due_timers() == [row.id]
    assert open_elements(engine, row.id) == []
    assert inspect.completed_elements(engine, row.id).count("reminded") == 1
    assert due(engine, row.id) is None


@pytest.mark.parametrize("timer", [
    "<bpmn:timerEventDefinition><bpmn:timeDuration>0 0 9 * * ?</bpmn:timeDuration></bpmn:timerEventDefinition>",
    "<bpmn:timerEventDefinition><bpmn:timeDate>0 0 9 * * ?</bpmn:timeDate></bpmn:timerEventDefinition>",
])
def test_cron_text_outside_a_cycle_is_refused_at_deploy(conformance_engine, timer):
    body = ('<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>'
            f'<bpmn:intermediateCatchEvent id="wait">{timer}</bpmn:intermediateCatchEvent><bpmn:endEvent id="e"/>'
            '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>'
            '<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="e"/></bpmn:process>')
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(body))
    assert "element 'wait'" in str(refused.value)
