"""Timer start events start instances on schedule, as in Camunda 7: deploying schedules them, each due
occurrence starts a new instance (started by the timer, entering through the timer start event), and the
schedule moves on; a new version replaces the older version's schedule, an unchanged redeploy keeps it.

The manual clock starts on Monday 2026-01-05 at 09:00:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from orchestrator.errors import InvalidModel
from orchestrator.models import ProcessDefinition, ProcessInstance, StartTimer
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN
from tests.support import inspect


def timer(kind: str, value: str) -> str:
    return f"<bpmn:timerEventDefinition><bpmn:{kind}>{value}</bpmn:{kind}></bpmn:timerEventDefinition>"


def scheduled(value: str, kind: str = "timeCycle", manual_start: bool = False, task: str = "review") -> str:
    """timer start event 'tick' (and, if asked, a none start event 'by_hand') → user task → end."""
    by_hand = ('<bpmn:startEvent id="by_hand"/><bpmn:sequenceFlow id="f0" sourceRef="by_hand" targetRef="manual"/>'
               '<bpmn:userTask id="manual" camunda:candidateGroups="qa"/>'
               '<bpmn:sequenceFlow id="f3" sourceRef="manual" targetRef="end"/>') if manual_start else ""
    return f"""<bpmn:process id="report" isExecutable="true">
  <bpmn:startEvent id="tick">{timer(kind, value)}</bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="tick" targetRef="{task}"/>
  <bpmn:userTask id="{task}" camunda:candidateGroups="qa"/>
  <bpmn:sequenceFlow id="f2" sourceRef="{task}" targetRef="end"/>
  <bpmn:endEvent id="end"/>{by_hand}
</bpmn:process>"""


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


def instances(engine) -> list[ProcessInstance]:
    with engine.db.transaction() as session:
        return list(session.scalars(select(ProcessInstance).order_by(ProcessInstance.started_at)))


def schedules(engine) -> list[tuple[int, str, datetime]]:
    """(process version, element, next due) of every timer start schedule."""
    with engine.db.transaction() as session:
        return [tuple(row) for row in session.execute(
            select(ProcessDefinition.version, StartTimer.element_id, StartTimer.next_due_at)
            .join(ProcessDefinition, ProcessDefinition.id == StartTimer.definition_id)
            .order_by(StartTimer.next_due_at))]


def open_elements(engine, instance_id: str) -> list[str]:
    return sorted(task.element_id for task in inspect.open_tasks(engine, instance_id))


def test_cron_start_starts_one_instance_a_day_at_nine(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(scheduled("0 0 9 * * ?")))
    assert instances(engine) == []  # deploying starts nothing: it schedules
    assert schedules(engine) == [(1, "tick", at(6, 9))]  # today's 09:00 is not after now
    assert engine.timers.next_due_at() == at(6, 9)

    clock.set(at(6, 8, 59, 59))
    assert engine.timers.fire_due_timers() == []
    clock.set(at(6, 9))
    [first] = engine.timers.fire_due_timers()
    row = inspect.instance(engine, first)
    assert (row.started_by, row.started_at, row.status) == ("system:timer", at(6, 9), "running")
    assert open_elements(engine, first) == ["review"]
    started = inspect.history(engine, first)[0]
    assert (started.type, started.actor, started.element_id) == ("instance_started", "system:timer", "tick")
    assert inspect.completed_elements(engine, first) == ["tick"]
    assert row.next_timer_at is None  # the instance does not wait at its start timer
    assert schedules(engine) == [(1, "tick", at(7, 9))]

    clock.set(at(6, 23))
    assert engine.timers.fire_due_timers() == []
    clock.set(at(7, 9, 0, 1))
    [second] = engine.timers.fire_due_timers()
    assert second != first
    assert [i.id for i in instances(engine)] == [first, second]
    assert schedules(engine) == [(1, "tick", at(8, 9))]


def test_iso_cycle_with_two_repetitions_starts_two_instances_then_stops(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(scheduled("R2/PT1H")))
    assert schedules(engine) == [(1, "tick", at(5, 10))]
    clock.set(at(5, 10))
    assert len(engine.timers.fire_due_timers()) == 1
    assert schedules(engine) == [(1, "tick", at(5, 11))]
    clock.set(at(5, 11))
    assert len(engine.timers.fire_due_timers()) == 1
    assert schedules(engine) == []  # both repetitions used
    clock.set(at(6, 11))
    assert engine.timers.fire_due_timers() == []
    assert len(instances(engine)) == 2
    assert engine.timers.next_due_at() is None


@pytest.mark.parametrize("kind, value, due", [
    ("timeDate", "2026-01-05T15:30:00Z", at(5, 15, 30)),
    ("timeDuration", "PT2H", at(5, 11)),
])
def test_date_and_duration_starts_fire_once(conformance_engine, clock, kind, value, due):
    engine = conformance_engine
    deploy(engine, model(scheduled(value, kind)))
    assert schedules(engine) == [(1, "tick", due)]
    clock.set(due)
    [started] = engine.timers.fire_due_timers()
    assert open_elements(engine, started) == ["review"]
    assert schedules(engine) == []
    clock.set(at(20, 9))
    assert engine.timers.fire_due_timers() == []
    assert len(instances(engine)) == 1


def test_a_date_already_past_at_deploy_starts_at_the_next_sweep(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(scheduled("2026-01-01T00:00:00Z", "timeDate")))
    assert len(engine.timers.fire_due_timers()) == 1
    assert engine.timers.fire_due_timers() == []


def test_a_new_version_replaces_the_schedule_and_the_old_one_never_fires_again(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(scheduled("0 0 9 * * ?")))
    clock.set(at(5, 12))
    [v2] = deploy(engine, model(scheduled("0 0 18 * * ?", task="check")))
    assert v2.version == 2 and v2.new
    assert schedules(engine) == [(2, "tick", at(5, 18))]

    clock.set(at(5, 18))
    [started] = engine.timers.fire_due_timers()
    assert open_elements(engine, started) == ["check"]  # the new version's model
    clock.set(at(6, 9, 0, 1))  # the old version's 09:00 passes: nothing starts
    assert engine.timers.fire_due_timers() == []
    assert len(instances(engine)) == 1

    deploy(engine, model(scheduled("0 0 18 * * ?").replace(timer("timeCycle", "0 0 18 * * ?"), "")))
    assert schedules(engine) == []  # a version without a timer start removes the schedule


def test_an_unchanged_redeploy_keeps_the_schedule(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(scheduled("R/PT6H")))
    clock.set(at(5, 15))
    assert len(engine.timers.fire_due_timers()) == 1
    assert schedules(engine) == [(1, "tick", at(5, 21))]
    clock.set(at(5, 16))
    [same] = deploy(engine, model(scheduled("R/PT6H")))
    assert (same.version, same.new) == (1, False)
    assert schedules(engine) == [(1, "tick", at(5, 21))]  # not restarted from the redeploy's time


def test_missed_days_start_one_instance_and_the_schedule_resumes(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(scheduled("0 0 9 * * ?")))
    clock.set(at(9, 12))  # the server was down from Tuesday to Friday noon: four 09:00s missed
    assert len(engine.timers.fire_due_timers()) == 1
    assert engine.timers.fire_due_timers() == []
    assert schedules(engine) == [(1, "tick", at(10, 9))]


def test_a_missed_iso_cycle_fires_once_and_counts_the_missed_repetitions(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(scheduled("R5/PT1H")))
    clock.set(at(5, 13, 30))  # 10:00 to 13:00 missed: the 13:00 occurrence fires, one repetition is left
    assert len(engine.timers.fire_due_timers()) == 1
    assert schedules(engine) == [(1, "tick", at(5, 14))]
    clock.set(at(5, 14))
    assert len(engine.timers.fire_due_timers()) == 1
    assert schedules(engine) == []


def test_a_process_with_a_none_start_and_a_timer_start_is_still_started_by_people(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(scheduled("0 0 9 * * ?", manual_start=True)))
    by_hand = engine.instances.start_instance("report", actor=ADMIN)
    assert open_elements(engine, by_hand.id) == ["manual"]
    assert inspect.instance(engine, by_hand.id).next_timer_at is None  # its timer start belongs to the schedule
    clock.set(at(6, 9))
    [by_timer] = engine.timers.fire_due_timers()
    assert open_elements(engine, by_timer) == ["review"]  # entered through the timer start only
    assert open_elements(engine, by_hand.id) == ["manual"]


def test_a_timer_only_process_started_by_hand_runs_at_once(conformance_engine, clock):
    """As in Camunda 7, where the single start event is the process's initial activity."""
    engine = conformance_engine
    deploy(engine, model(scheduled("0 0 9 * * ?")))
    row = engine.instances.start_instance("report", actor=ADMIN)
    assert open_elements(engine, row.id) == ["review"]
    assert inspect.instance(engine, row.id).next_timer_at is None


def test_an_expression_needing_a_variable_is_refused_at_deploy(conformance_engine):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(scheduled("${schedule}")))
    assert any("element 'tick'" in problem and "deployed" in problem for problem in refused.value.problems), \
        refused.value.problems
    assert schedules(conformance_engine) == []


def test_a_start_whose_first_step_fails_starts_nothing_and_the_schedule_moves_on(conformance_engine, clock):
    engine = conformance_engine
    body = """<bpmn:process id="report" isExecutable="true">
  <bpmn:startEvent id="tick">{}</bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="tick" targetRef="split"/>
  <bpmn:exclusiveGateway id="split"/>
  <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="end"><bpmn:conditionExpression>${{missing &gt; 1}}</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:endEvent id="end"/>
</bpmn:process>""".format(timer("timeCycle", "0 0 9 * * ?"))
    deploy(engine, model(body))
    clock.set(at(6, 9))
    assert engine.timers.fire_due_timers() == []
    assert instances(engine) == []
    assert schedules(engine) == [(1, "tick", at(7, 9))]
    with engine.db.transaction() as session:
        assert "missing" in session.scalar(select(StartTimer.last_error))


def test_a_timer_event_subprocess_stays_inside_its_instance(conformance_engine, clock):
    """Only the process's own timer start events are scheduled; an event subprocess's timer waits in each
    instance, as before."""
    engine = conformance_engine
    body = """<bpmn:process id="report" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="qa"/>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
  <bpmn:subProcess id="late" triggeredByEvent="true">
    <bpmn:startEvent id="late_start" isInterrupting="false">{}</bpmn:startEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="late_start" targetRef="late_end"/>
    <bpmn:endEvent id="late_end"/>
  </bpmn:subProcess>
</bpmn:process>""".format(timer("timeDuration", "PT1H"))
    deploy(engine, model(body))
    assert schedules(engine) == []
    row = engine.instances.start_instance("report", actor=ADMIN)
    assert inspect.instance(engine, row.id).next_timer_at == at(5, 10)
    clock.set(at(5, 10, 0, 1))
    assert engine.timers.fire_due_timers() == [row.id]
    assert "late_end" in inspect.completed_elements(engine, row.id)
