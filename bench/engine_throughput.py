"""Engine benchmark (reports only, asserts nothing): one JSON line per result.

(a) the model on bare SpiffWorkflow in memory — the baseline;
(b) the same model through Loopline's commands with a real Celery worker, on SQLite and, when
    DATABASE_URL / CELERY_BROKER_URL are set, on PostgreSQL + Redis; ratio b/a;
(c) the cost of completing one user task in an instance with 10 vs 300 completed tasks.

Run: python -m bench.engine_throughput [--instances 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from celery.contrib.testing.worker import start_worker
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import TaskState
from sqlalchemy import func, select

from orchestrator.actors import Actor
from orchestrator.db import Database, recreate_schema, with_search_path
from orchestrator.definitions import ModelFile, parse_bundle
from orchestrator.deployments import read_model_file
from orchestrator.models import InstanceStatus, ProcessInstance
from orchestrator.script_engine import SandboxedScriptEngine
from orchestrator.service import Engine
from orchestrator.settings import Settings
from tasks.celery_app import create_celery
from tasks.jobs import celery_waker, register_tasks

MODELS = Path(__file__).parent / "models"
BENCH_SCHEMA = "loopline_bench"  # never the operator's own tables
QA = Actor("bench", groups=frozenset({"qa"}), roles=frozenset({"admin"}))


def emit(**result) -> None:
    print(json.dumps(result), flush=True)


def flow_files() -> list[ModelFile]:
    return [read_model_file(MODELS / "bench_flow.bpmn"), read_model_file(MODELS / "bench_route.dmn")]


def bare_spiff(instances: int) -> float:
    """Instances/s for the model driven directly through SpiffWorkflow, no persistence."""
    parsed = parse_bundle(flow_files(), max_bytes=10**7)["bench_flow"]
    script_engine = SandboxedScriptEngine()
    started = time.perf_counter()
    for i in range(instances):
        workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=script_engine)
        workflow.get_tasks(state=TaskState.READY)[0].data.update(amount=1000 + i)
        workflow.do_engine_steps()
        [review] = workflow.get_tasks(state=TaskState.READY, manual=True)
        review.set_data(ok=True)
        review.run()
        workflow.do_engine_steps()
        [book] = [t for t in workflow.get_tasks(state=TaskState.STARTED) if isinstance(t.task_spec, ServiceTask)]
        book.data.update(echo={"ok": True})
        book.complete()
        workflow.do_engine_steps()
        assert workflow.is_completed()
    return instances / (time.perf_counter() - started)


def loopline_run(engine: Engine, instances: int) -> float:
    """Instances/s through start → complete user task → job on a real worker → end."""
    started = time.perf_counter()
    for i in range(instances):
        row = engine.start_instance("bench_flow", actor=QA, variables={"amount": 1000 + i})
        [task] = engine.open_human_tasks_for(row.id)
        engine.complete_user_task(task.id, {"ok": True}, actor=QA)
    deadline = time.monotonic() + 600
    while _running(engine) and time.monotonic() < deadline:
        time.sleep(0.01)
    return instances / (time.perf_counter() - started)


def _running(engine: Engine) -> int:
    with engine.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(ProcessInstance)
                              .where(ProcessInstance.status == InstanceStatus.RUNNING))


def with_worker(database_url: str, broker_url: str, run) -> float:
    if database_url.startswith("postgresql"):
        recreate_schema(database_url, BENCH_SCHEMA)
        database_url = with_search_path(database_url, BENCH_SCHEMA)
    db = Database(database_url)
    db.create_schema()
    settings = Settings.from_env({}, database_url=database_url, broker_url=broker_url, environment="test",
                                 home=Path(tempfile.mkdtemp()))
    engine = Engine(settings, db=db)
    engine.deploy(flow_files(), actor=QA)
    engine.deploy([read_model_file(MODELS / "bench_loop.bpmn")], actor=QA)
    app = create_celery(settings)
    register_tasks(app, lambda: engine)
    engine.wake = celery_waker(app)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            return run(engine)
    finally:
        db.dispose()


def completion_cost(engine: Engine, history: int, samples: int = 15) -> float:
    """Median seconds to complete one user task in an instance that already completed `history` tasks."""
    row = engine.start_instance("bench_loop", actor=QA)
    for _ in range(history // 2):  # each round completes the user task and the gateway
        [task] = engine.open_human_tasks_for(row.id)
        engine.complete_user_task(task.id, {"more": True}, actor=QA)
    timings = []
    for _ in range(samples):
        [task] = engine.open_human_tasks_for(row.id)
        begin = time.perf_counter()
        engine.complete_user_task(task.id, {"more": True}, actor=QA)
        timings.append(time.perf_counter() - begin)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=200)
    args = parser.parse_args()

    baseline = bare_spiff(args.instances * 5)
    emit(bench="bare_spiffworkflow_in_memory", instances_per_s=round(baseline, 1))

    targets = [("sqlite", f"sqlite:///{tempfile.mkdtemp()}/bench.db", os.environ.get("CELERY_BROKER_URL") or "memory://")]
    if os.environ.get("DATABASE_URL", "").startswith("postgresql") and os.environ.get("CELERY_BROKER_URL"):
        targets.append(("postgres+redis", os.environ["DATABASE_URL"], os.environ["CELERY_BROKER_URL"]))
    for name, database_url, broker_url in targets:
        rate = with_worker(database_url, broker_url, lambda engine: loopline_run(engine, args.instances))
        emit(bench="loopline_commands_with_worker", backend=name, broker=broker_url.split(":")[0],
             instances_per_s=round(rate, 1), ratio_vs_bare=round(rate / baseline, 4))

        def costs(engine):
            return completion_cost(engine, 10), completion_cost(engine, 300)

        small, large = with_worker(database_url, broker_url, costs)
        emit(bench="complete_user_task_cost", backend=name, ms_at_10_tasks=round(small * 1000, 2),
             ms_at_300_tasks=round(large * 1000, 2), ratio_300_vs_10=round(large / small, 2))


if __name__ == "__main__":
    main()
