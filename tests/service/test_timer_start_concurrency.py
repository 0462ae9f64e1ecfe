"""Two beat processes sweep the same database at the same moment: each due timer start occurrence starts
exactly one instance (on PostgreSQL the schedule rows are claimed with FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from orchestrator.db import Database
from orchestrator.definitions import ModelFile
from orchestrator.models import ProcessDefinition, ProcessInstance
from tests.conftest import ADMIN
from tests.support.sweeps import sweep_together

PROCESSES = 12
ROUNDS = 3


def every_minute(key: str) -> ModelFile:
    return ModelFile(f"{key}.bpmn", f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d_{key}" targetNamespace="http://loopline.dev/test">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="tick"><bpmn:timerEventDefinition>
      <bpmn:timeCycle>0 * * * * ?</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="tick" targetRef="review"/>
    <bpmn:userTask id="review" camunda:candidateGroups="qa"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>""")


def started_per_process(engine) -> Counter:
    with engine.db.transaction() as session:
        return Counter(session.scalars(
            select(ProcessDefinition.key).join(ProcessInstance, ProcessInstance.definition_id == ProcessDefinition.id)))


def test_two_sweeps_never_start_the_same_occurrence_twice(make_engine, database, clock):
    first = make_engine(database)
    second_db = Database(database.url)
    second = make_engine(second_db)
    try:
        for index in range(PROCESSES):
            first.deployments.deploy([every_minute(f"tick_{index}")], actor=ADMIN)
        returned: list[str] = []
        for round_ in range(1, ROUNDS + 1):
            clock.set(clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1))
            results = sweep_together(first, second)
            both = results[0] + results[1]
            assert len(both) == len(set(both)) == PROCESSES, results  # every schedule fired once, by one sweep
            assert started_per_process(first) == {f"tick_{i}": round_ for i in range(PROCESSES)}
            returned += both
        assert len(set(returned)) == PROCESSES * ROUNDS
        assert first.timers.fire_due_timers() == [] and second.timers.fire_due_timers() == []
    finally:
        second_db.dispose()
