"""Nothing is lost when a worker is killed mid-job or the broker goes away.

Separate `loopline worker` processes on a redis-server of the test's own; the database is PostgreSQL
when DATABASE_URL is set, otherwise a SQLite file shared by the processes.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time

from orchestrator.clock import SystemClock
from orchestrator.db import Database
from orchestrator.models import InstanceStatus, JobStatus
from orchestrator.service import Engine
from orchestrator.settings import Settings
from tasks.celery_app import create_celery
from tasks.jobs import celery_waker
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect
from tests.support.processes import own_redis, start_loopline
from tests.support.waiting import wait_for


def process_env(db: Database, broker: str, tmp_path, **extra) -> dict[str, str]:
    return {
        "DATABASE_URL": db.url,
        "CELERY_BROKER_URL": broker,
        "LOOPLINE_HOME": str(tmp_path),
        "LOOPLINE_ENV": "test",
        "LOOPLINE_DEPLOY_ON_START": "0",
        "LOOPLINE_CONNECTORS": "tests.support.connectors",
        "LOOPLINE_TEST_LEDGER": os.environ["LOOPLINE_TEST_LEDGER"],
        "LOOPLINE_TOPIC_RETRY": json.dumps({"test.refund": {"timeout": 1}}),
        "LOOPLINE_JOB_LEASE_SECONDS": "1",
        "LOOPLINE_RELAY_STALE_AFTER": "1",
        **extra,
    }


def client_engine(db: Database, env: dict[str, str], monkeypatch) -> Engine:
    """The 'web' side: starts instances and relays the outbox, wakes workers through the broker."""
    monkeypatch.setenv("CELERY_BROKER_URL", env["CELERY_BROKER_URL"])  # Celery prefers the variable
    settings = Settings.from_env(env)
    engine = Engine(settings, db=db, clock=SystemClock())
    engine.wake = celery_waker(create_celery(settings))
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    return engine


def relay_until(engine: Engine, predicate, timeout: float, what: str):
    def step():
        engine.relay.relay_jobs()
        return predicate()

    return wait_for(step, timeout=timeout, what=what)


def waiting_for_parcel(engine: Engine, instance_id: str) -> bool:
    return "refund" in inspect.completed_elements(engine, instance_id)


def test_killed_worker_job_completes_once_on_another_worker(shared_database, ledger, tmp_path, monkeypatch):
    with own_redis(tmp_path) as broker:
        env = process_env(shared_database, broker.url, tmp_path)
        engine = client_engine(shared_database, env, monkeypatch)
        ledger.script("test.refund", "apply-then-sleep:120")
        first = start_loopline(["worker", "--pool", "solo", "--concurrency", "1"], env, tmp_path / "w1.log")
        try:
            row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="RMA-K",
                                        variables={"amount": 100, "customer": "ACME"})
            wait_for(lambda: len(ledger.effects("test.refund")) == 1, timeout=60, what="first worker's side effect")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            first.kill()
        [job] = inspect.jobs(engine, row.id)
        assert job.status == JobStatus.RUNNING  # held by a dead worker

        second = start_loopline(["worker", "--pool", "solo", "--concurrency", "1"], env, tmp_path / "w2.log")
        try:
            relay_until(engine, lambda: waiting_for_parcel(engine, row.id), 90, "the second worker")
        finally:
            second.terminate()
            second.wait(timeout=20)
        [job] = inspect.jobs(engine, row.id)
        assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
        assert len(ledger.calls("test.refund")) == 2
        effects = ledger.effects("test.refund")
        assert len(effects) == 1 and effects[0][0] == job.idempotency_key  # exactly once
        assert "job_lease_expired" in [e.type for e in inspect.history(engine, row.id)]
        engine.messages.correlate_message("ParcelReceived", actor=ADMIN, business_key="RMA-K")
        assert inspect.instance(engine, row.id).status == InstanceStatus.COMPLETED


def test_instances_started_while_redis_is_down_run_when_it_is_back(shared_database, ledger, tmp_path, monkeypatch):
    with own_redis(tmp_path) as broker:
        env = process_env(shared_database, broker.url, tmp_path)
        engine = client_engine(shared_database, env, monkeypatch)
        worker = start_loopline(["worker", "--pool", "solo", "--concurrency", "1"], env, tmp_path / "w.log")
        try:
            before = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="RMA-0",
                                           variables={"amount": 100, "customer": "ACME"})
            wait_for(lambda: waiting_for_parcel(engine, before.id), timeout=60, what="worker up")

            broker.stop()
            during = [engine.instances.start_instance("refund_claim", actor=ADMIN, business_key=f"RMA-{i}",
                                            variables={"amount": 100 + i, "customer": "ACME"})
                      for i in range(1, 6)]
            assert all(inspect.jobs(engine, r.id)[0].status == JobStatus.PENDING for r in during)
            engine.relay.relay_jobs()  # the broker is still down: relaying fails quietly, rows stay pending
            assert all(inspect.jobs(engine, r.id)[0].status == JobStatus.PENDING for r in during)

            broker.start()
            relay_until(engine, lambda: all(waiting_for_parcel(engine, r.id) for r in during), 120,
                        "jobs started while Redis was down")
        finally:
            worker.terminate()
            worker.wait(timeout=20)
        assert len(ledger.effects("test.refund")) == 6
        assert all(inspect.jobs(engine, r.id)[0].status == JobStatus.COMPLETED for r in during)


def test_a_30_second_redis_outage_under_load_loses_nothing(shared_database, ledger, tmp_path, monkeypatch):
    """Starts keep coming before, during and after the outage (each creates a job that wakes a worker through
    Redis); commands never wait for the broker (latencies are printed; bench.broker_outage measures them)."""
    with own_redis(tmp_path) as broker:
        env = process_env(shared_database, broker.url, tmp_path)
        engine = client_engine(shared_database, env, monkeypatch)
        worker = start_loopline(["worker", "--pool", "solo", "--concurrency", "1"], env, tmp_path / "w.log")
        latencies: dict[str, list[float]] = {"before": [], "during": [], "after": []}
        rows = []

        def load(phase: str, seconds: float) -> None:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                began = time.perf_counter()
                rows.append(engine.instances.start_instance(
                    "refund_claim", actor=ADMIN, business_key=f"RMA-{phase}-{len(rows)}",
                    variables={"amount": 100, "customer": "ACME"}))
                latencies[phase].append(time.perf_counter() - began)
                time.sleep(0.1)

        try:
            load("before", 5)
            broker.stop()
            load("during", 30)
            broker.start()
            load("after", 5)
            relay_until(engine, lambda: all(waiting_for_parcel(engine, r.id) for r in rows), 180,
                        "every job created before, during and after the outage")
        finally:
            worker.terminate()
            worker.wait(timeout=20)
        assert len(ledger.effects("test.refund")) == len(rows)  # each once: nothing lost, nothing twice
        assert all(inspect.jobs(engine, r.id)[0].status == JobStatus.COMPLETED for r in rows)
        print({phase: f"{len(values)} starts, median {statistics.median(values) * 1000:.1f} ms"
               for phase, values in latencies.items()})
