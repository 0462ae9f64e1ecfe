"""Thin Celery tasks: ids in, one engine call each."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from celery import Celery

from orchestrator.service import Engine
from tasks.publisher import BackgroundWaker

RUN_JOB = "loopline.run_job"
SWEEP = "loopline.sweep"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def register_tasks(app: Celery, engine: Callable[[], Engine]) -> None:
    """Register the tasks on `app`; `engine` returns the process's Engine (built lazily in workers)."""

    @app.task(name=RUN_JOB, shared=False, acks_late=True, reject_on_worker_lost=True)
    def run_job(job_id: int) -> str:
        return engine().jobs.run_job(int(job_id), worker_name())

    @app.task(name=SWEEP, shared=False, acks_late=False)
    def sweep() -> dict:
        current = engine()
        return {"timers": len(current.timers.fire_due_timers()), "relayed": len(current.relay.relay_jobs())}


def celery_waker(app: Celery) -> BackgroundWaker:
    """Wake workers for new jobs through the broker, from a thread of its own (a slow or absent broker never
    holds up a command); failures are left to the relay."""
    queue = app.conf.task_default_queue

    def publish(job_id: int) -> None:
        # straight to the workers' queue: through the default exchange the broker client first looks up
        # the exchange's bindings, a second round trip for every job
        app.send_task(RUN_JOB, args=[job_id], retry=False, exchange="", routing_key=queue)

    return BackgroundWaker(publish)
