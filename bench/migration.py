"""Migration of many running cases by a batch (reports only, asserts nothing): one JSON line per figure.

Run:   python -m bench.migration [--instances N] [--skip-sqlite]
       SQLite always; PostgreSQL as well when DATABASE_URL (and CELERY_BROKER_URL) are set, e.g.
       createdb -h 127.0.0.1 -U postgres benchmigration
       DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/benchmigration \
       CELERY_BROKER_URL=redis://127.0.0.1:6379/9 python -m bench.migration

N running cases (10,000) of a small process wait in a user task on v1; v2 adds a confirmation step after it
and changes the task's due date. The dry run checks every case; then one batch (created from the case list's
filter, as the case list page does) moves them all, run by the real sweep loop (`run_scheduler`) in a thread
of this process, while the main thread reads the batch's progress once a second.

Lines ("figure"):
- start: seconds to start the N cases (the set-up, for scale).
- dry_run: seconds for the dry run over N cases, cases per second, how many can move.
- progress: done / failed / total at each second of the batch.
- migration: total seconds, cases per second, done and failed, and whether every case now runs on v2.
- finish_on_v2: one migrated case worked to its end on v2 (its path passes v2's new step).
"""

from __future__ import annotations

import argparse
import threading
import time

from sqlalchemy import func, select

from bench.backends import QA, Backend, bench_engine, postgres_backend, sqlite_backend
from bench.rounds import emit
from orchestrator.batch_operations import ROUND_SECONDS, ROUND_SIZE, BatchRequest
from orchestrator.definitions import ModelFile
from orchestrator.models import HistoryEvent, ProcessInstance
from orchestrator.query_filters import InstanceFilter
from tasks.scheduler import run_scheduler

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="bench_migrate_defs" targetNamespace="http://loopline.dev/bench">
 <bpmn:process id="bench_migrate" name="Bench migration: review{title}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:userTask id="review" name="Review" camunda:candidateGroups="qa" camunda:dueDate="{due}"/>
  {steps}
  <bpmn:endEvent id="end"/>
 </bpmn:process>
</bpmn:definitions>"""
V1_STEPS = '<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>'
V2_STEPS = """<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="confirm"/>
  <bpmn:userTask id="confirm" name="Confirm" camunda:candidateGroups="qa"/>
  <bpmn:sequenceFlow id="f3" sourceRef="confirm" targetRef="end"/>"""


def model(version: int) -> ModelFile:
    if version == 1:
        text = MODEL.format(title="", due="P1D", steps=V1_STEPS)
    else:
        text = MODEL.format(title=", confirmed", due="P2D", steps=V2_STEPS)
    return ModelFile("bench_migrate.bpmn", text)


def run(backend: Backend, instances: int) -> None:
    with bench_engine(backend) as engine:
        engine.deployments.deploy([model(1)], actor=QA)
        began = time.perf_counter()
        for number in range(instances):
            engine.instances.start_instance("bench_migrate", actor=QA, business_key=f"BM-{number}")
        emit("start", backend=backend.name, instances=instances, seconds=round(time.perf_counter() - began, 2))
        [v2] = engine.deployments.deploy([model(2)], actor=QA)

        began = time.perf_counter()
        dry = engine.case_migration.dry_run("bench_migrate", 1, v2.version, actor=QA)
        seconds = time.perf_counter() - began
        emit("dry_run", backend=backend.name, cases=len(dry.cases), movable=len(dry.movable),
             seconds=round(seconds, 2), cases_per_s=round(len(dry.cases) / seconds, 1))

        batch = engine.batches.create_batch(BatchRequest(
            "migrate", {"to_version": v2.version},
            criteria=InstanceFilter(definition_key="bench_migrate", status="running")), actor=QA)
        stop = threading.Event()
        began = time.perf_counter()
        sweep = threading.Thread(target=run_scheduler, args=(engine, stop), daemon=True)
        sweep.start()
        try:
            while True:
                view = engine.batches.get_batch(batch.id, actor=QA)
                emit("progress", backend=backend.name, seconds=round(time.perf_counter() - began, 1),
                     done=view.done, failed=view.failed, total=view.total, status=view.status)
                if view.finished:
                    break
                time.sleep(1.0)
        finally:
            stop.set()
            sweep.join(timeout=60)
        seconds = time.perf_counter() - began
        with engine.db.reading() as session:
            on_v2 = session.scalar(select(func.count()).select_from(ProcessInstance)
                                   .where(ProcessInstance.definition_id == v2.id))
            events = session.scalar(select(func.count()).select_from(HistoryEvent)
                                    .where(HistoryEvent.type == "instance_migrated"))
        emit("migration", backend=backend.name, instances=instances, seconds=round(seconds, 2),
             cases_per_s=round(view.done / seconds, 1), done=view.done, failed=view.failed,
             all_on_v2=on_v2 == instances, history_events=events, round_size=ROUND_SIZE,
             round_seconds=ROUND_SECONDS)

        instance_id = dry.cases[0].instance_id
        for _step in range(2):
            [task] = engine.queries.open_human_tasks_for(QA, instance_id)
            engine.tasks.complete_user_task(task.id, {}, actor=QA)
        path = [e.element_id for e in engine.queries.history_for(QA, instance_id) if e.type == "element_completed"]
        status = engine.queries.instance_for(QA, instance_id)[0].status
        emit("finish_on_v2", backend=backend.name, status=status, passed_confirm="confirm" in path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    backends = ([] if args.skip_sqlite else [sqlite_backend()]) + [b for b in [postgres_backend()] if b]
    for backend in backends:
        run(backend, args.instances)


if __name__ == "__main__":
    main()
