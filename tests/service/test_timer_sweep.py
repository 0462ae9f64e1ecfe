"""The batched timer sweep: several instances per transaction, several claiming threads on PostgreSQL. A failing
timer is parked without losing the others' fires, concurrent sweeps fire each timer once, and a database error
in any sweep thread is survived by the loop."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from orchestrator.clock import SystemClock
from orchestrator.db import Database
from orchestrator.definitions import ModelFile
from orchestrator.models import HistoryEvent, InstanceStatus, ProcessInstance
from tasks.scheduler import run_scheduler
from tests.conftest import ADMIN
from tests.support import inspect
from tests.support.sweeps import sweep_together
from tests.support.waiting import wait_for

GOOD, BAD = "PT1H", "P9999999999Y"  # the second wait's value: fine, or past the timer horizon when reached

TWO_WAITS = ModelFile("two_waits.bpmn", """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="two_waits_defs" targetNamespace="http://loopline.test">
 <bpmn:process id="two_waits" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first_wait"/>
  <bpmn:intermediateCatchEvent id="first_wait">
   <bpmn:timerEventDefinition><bpmn:timeDuration>${first}</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="first_wait" targetRef="second_wait"/>
  <bpmn:intermediateCatchEvent id="second_wait">
   <bpmn:timerEventDefinition><bpmn:timeDuration>${wait}</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="second_wait" targetRef="follow_up"/>
  <bpmn:userTask id="follow_up" camunda:candidateGroups="qa"/>
  <bpmn:sequenceFlow id="f4" sourceRef="follow_up" targetRef="end"/>
  <bpmn:endEvent id="end"/>
 </bpmn:process>
</bpmn:definitions>""")


def start_waiting(engine, waits: list[str], first: str = "PT1H") -> list[str]:
    engine.deployments.deploy([TWO_WAITS], actor=ADMIN)
    return [engine.instances.start_instance("two_waits", actor=ADMIN, business_key=f"W-{number}",
                                            variables={"first": first, "wait": wait}).id
            for number, wait in enumerate(waits)]


def versions(engine) -> dict[str, int]:
    with engine.db.reading() as session:
        return dict(session.execute(select(ProcessInstance.id, ProcessInstance.version)).all())


def first_wait_fires(engine) -> Counter:
    """How often each instance's first timer fired, from the history."""
    with engine.db.reading() as session:
        return Counter(session.scalars(select(HistoryEvent.instance_id).where(
            HistoryEvent.type == "element_completed", HistoryEvent.element_id == "first_wait")))


def test_a_failing_timer_in_a_batch_is_parked_and_the_others_fire_once(make_engine, database, clock):
    engine = make_engine(database, timer_fires_per_transaction=10)
    ids = start_waiting(engine, [GOOD, GOOD, BAD, GOOD, BAD, GOOD])
    good = [ids[n] for n in (0, 1, 3, 5)]
    bad = [ids[2], ids[4]]
    before = versions(engine)
    clock.advance(hours=1, seconds=1)

    assert sorted(engine.timers.fire_due_timers()) == sorted(good)

    after = versions(engine)
    assert {i: after[i] - before[i] for i in good} == {i: 1 for i in good}  # one command each, committed once
    assert first_wait_fires(engine) == {i: 1 for i in good}
    for instance_id in good:
        row = inspect.instance(engine, instance_id)
        assert row.status == InstanceStatus.RUNNING and row.next_timer_at > clock.now()  # on the second wait
    for instance_id in bad:
        row = inspect.instance(engine, instance_id)
        assert (row.status, row.next_timer_at) == (InstanceStatus.RUNNING, None)
        [failure] = [e for e in inspect.history(engine, instance_id) if e.type == "timer_failed"]
        assert "element 'second_wait'" in failure.payload["error"]
        [incident] = engine.queries.open_incidents(ADMIN, instance_id=instance_id)
        assert incident.element_id == "second_wait"
    assert engine.timers.fire_due_timers() == []  # nothing left due, nothing fired again


@pytest.mark.parametrize("backend", ["postgres"])
def test_two_sweeps_with_several_threads_fire_each_timer_exactly_once(make_engine, database, clock):
    settings = dict(timer_sweep_threads=3, timer_fires_per_transaction=4, timer_batch_size=500)
    first = make_engine(database, **settings)
    second_db = Database(database.url)  # another machine: a pool of its own
    second = make_engine(second_db, **settings)
    try:
        ids = start_waiting(first, [GOOD] * 120)
        before = versions(first)
        clock.advance(hours=1, seconds=1)

        by_first, by_second = sweep_together(first, second)

        assert len(by_first) + len(by_second) == len(set(by_first) | set(by_second)) == len(ids)
        assert set(by_first) | set(by_second) == set(ids)
        after = versions(first)
        assert {i: after[i] - before[i] for i in ids} == {i: 1 for i in ids}
        assert first_wait_fires(first) == {i: 1 for i in ids}
        assert first.timers.fire_due_timers() == [] and second.timers.fire_due_timers() == []
    finally:
        second_db.dispose()


def test_a_database_error_in_a_sweep_round_is_survived_and_every_timer_fires_once(make_engine, database, clock,
                                                                                  monkeypatch):
    engine = make_engine(database, timer_fires_per_transaction=3, timer_batch_size=5, timer_sweep_interval=0.05)
    ids = start_waiting(engine, [GOOD] * 12)
    before = versions(engine)
    real_fire_batch = engine.timers._fire_batch
    failures = iter([True, False, False, True])  # the 1st and 4th batch meet a database that is away

    def flaky_fire_batch(sweep, size):
        if next(failures, False):
            raise OperationalError("SELECT …", {}, ConnectionError("server closed the connection"))
        return real_fire_batch(sweep, size)

    monkeypatch.setattr(engine.timers, "_fire_batch", flaky_fire_batch)
    clock.advance(hours=1, seconds=1)
    stop = threading.Event()
    sweeper = threading.Thread(target=run_scheduler, args=(engine, stop), daemon=True)
    sweeper.start()
    try:
        wait_for(lambda: first_wait_fires(engine) == {i: 1 for i in ids}, timeout=30, what="every first timer")
    finally:
        stop.set()
        sweeper.join(timeout=10)
    after = versions(engine)
    assert {i: after[i] - before[i] for i in ids} == {i: 1 for i in ids}


@pytest.mark.parametrize("backend", ["postgres"])
def test_helper_processes_of_the_sweep_loop_fire_timers_and_stop_with_it(make_engine, database, monkeypatch):
    engine = make_engine(database, clock=SystemClock(), timer_sweep_processes=2, timer_batch_size=20,
                         timer_fires_per_transaction=5, timer_sweep_interval=0.2,
                         broker_url="redis://127.0.0.1:1/0")  # a beat's settings; these fires create no jobs to wake
    monkeypatch.setattr(engine.timers, "_fire_instance_timers", lambda limit: [])  # the helper alone fires them
    ids = start_waiting(engine, [GOOD] * 60, first="PT2S")
    before = versions(engine)
    stop = threading.Event()
    sweeper = threading.Thread(target=run_scheduler, args=(engine, stop), daemon=True)
    sweeper.start()
    try:
        wait_for(lambda: first_wait_fires(engine) == {i: 1 for i in ids}, timeout=60, what="every first timer")
    finally:
        stop.set()
        sweeper.join(timeout=40)
    assert not sweeper.is_alive()
    assert multiprocessing.active_children() == []
    after = versions(engine)
    assert {i: after[i] - before[i] for i in ids} == {i: 1 for i in ids}
