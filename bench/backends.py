"""Where the benchmarks run: SQLite always, PostgreSQL + Redis when DATABASE_URL / CELERY_BROKER_URL say so.

Every engine gets a fresh database: a new SQLite file, or on PostgreSQL the schema `loopline_bench`, dropped
and created again (never `public`, never the tests' schema).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from celery.contrib.testing.worker import start_worker
from sqlalchemy import func, select

from orchestrator.actors import Actor
from orchestrator.clock import Clock
from orchestrator.db import Database, recreate_schema, with_search_path
from orchestrator.deployments import read_model_file
from orchestrator.models import InstanceStatus, ProcessInstance
from orchestrator.service import Engine
from orchestrator.settings import Settings
from tasks.celery_app import create_celery
from tasks.jobs import celery_waker, register_tasks

MODELS = Path(__file__).parent / "models"
BENCH_SCHEMA = "loopline_bench"
QA = Actor("bench", groups=frozenset({"qa"}), roles=frozenset({"admin"}))
BUNDLES = (("bench_flow.bpmn", "bench_route.dmn"), ("bench_loop.bpmn",), ("bench_steps.bpmn",), ("bench_jobs.bpmn",))


@dataclass(frozen=True)
class Backend:
    """A database plus the broker its workers listen on."""

    name: str
    database_url: str
    broker_url: str

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


def sqlite_backend() -> Backend:
    # Celery prefers CELERY_BROKER_URL over the URL it is given, so name the broker that will really be used
    return Backend("sqlite", f"sqlite:///{tempfile.mkdtemp(prefix='loopline-bench-')}/bench.db",
                   os.environ.get("CELERY_BROKER_URL") or "memory://")


def postgres_backend() -> Backend | None:
    """PostgreSQL + Redis from the environment, or None when either is not configured."""
    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if not database_url.startswith("postgresql") or not broker_url.startswith("redis"):
        return None
    return Backend("postgres+redis", database_url, broker_url)


def configured_backends() -> list[Backend]:
    postgres = postgres_backend()
    return [sqlite_backend(), *([postgres] if postgres else [])]


def fresh_database_url(backend: Backend) -> str:
    """The URL of an empty database for one benchmark (on PostgreSQL, the bench schema made anew)."""
    if not backend.is_postgres:
        return sqlite_backend().database_url
    recreate_schema(backend.database_url, BENCH_SCHEMA)
    return with_search_path(backend.database_url, BENCH_SCHEMA)


@contextmanager
def bench_engine(backend: Backend, clock: Clock | None = None) -> Iterator[Engine]:
    """An Engine on a fresh database with the bench models deployed and no worker attached."""
    database_url = fresh_database_url(backend)
    db = Database(database_url)
    db.create_schema()
    settings = Settings.from_env({}, database_url=database_url, broker_url=backend.broker_url, environment="test",
                                 home=Path(tempfile.mkdtemp(prefix="loopline-bench-home-")))
    engine = Engine(settings, db=db, clock=clock)
    for bundle in BUNDLES:
        engine.deployments.deploy([read_model_file(MODELS / name) for name in bundle], actor=QA)
    try:
        yield engine
    finally:
        db.dispose()


@contextmanager
def worker_thread(engine: Engine) -> Iterator[None]:
    """A real Celery worker (solo pool) in a thread of this process, woken by the engine after each commit."""
    app = create_celery(engine.settings)
    # the in-memory transport sleeps this long whenever its queue is empty: the default second would dominate
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, "polling_interval": 0.01}
    register_tasks(app, lambda: engine)
    app.control.purge()  # messages a crashed earlier run left behind
    engine.wake = celery_waker(app)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        engine.wake = None


_COUNT_RUNNING = (select(func.count()).select_from(ProcessInstance.__table__)
                  .where(ProcessInstance.__table__.c.status == InstanceStatus.RUNNING))


def running_instances(engine: Engine) -> int:
    """How many instances run; a plain read on a pooled connection (the benchmarks poll this every few ms, and
    the poller shares the machine with what it measures: it should cost as little as it can)."""
    with engine.db.deferred_engine.connect() as connection:
        return connection.scalar(_COUNT_RUNNING)


def cancel_running(engine: Engine) -> None:
    """Cancel every running instance, so a failed round leaves nothing behind for the next one."""
    with engine.db.reading() as session:
        running = list(session.scalars(
            select(ProcessInstance.id).where(ProcessInstance.status == InstanceStatus.RUNNING)))
    for instance_id in running:
        engine.instances.cancel_instance(instance_id, actor=QA, reason="benchmark round failed")


def wait_until_all_ended(engine: Engine, stall: float = 30, poll: float = 0.005) -> None:
    """Return once no instance is running; raise TimeoutError when none has ended for `stall` seconds."""
    running, progress_at = running_instances(engine), time.monotonic()
    while running:
        time.sleep(poll)
        still_running = running_instances(engine)
        if still_running < running:
            progress_at = time.monotonic()
        elif time.monotonic() - progress_at > stall:
            raise TimeoutError(f"{still_running} instances still running, none ended in the last {stall:.0f} s")
        running = still_running
