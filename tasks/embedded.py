"""Embedded mode: a worker thread and a sweep thread inside the serving process, no broker needed."""

from __future__ import annotations

import logging
import queue
import threading

from orchestrator.service import Engine
from tasks.jobs import worker_name
from tasks.scheduler import run_scheduler

log = logging.getLogger(__name__)


class EmbeddedRunner:
    """Runs jobs from an in-memory queue and the timer/relay sweep; the database still holds all state."""

    def __init__(self, engine: Engine, workers: int = 1):
        self.engine = engine
        self.queue: queue.Queue[int | None] = queue.Queue()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._work, name=f"loopline-worker-{i}", daemon=True)
                        for i in range(workers)]
        self.threads.append(threading.Thread(target=run_scheduler, args=(engine, self.stop_event),
                                             name="loopline-sweep", daemon=True))
        engine.wake = self.wake

    def wake(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self.queue.put(job_id)

    def start(self) -> EmbeddedRunner:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        name = worker_name() + ":" + threading.current_thread().name
        while not self.stop_event.is_set():
            job_id = self.queue.get()
            if job_id is None:
                return
            try:
                self.engine.jobs.run_job(job_id, name)
            except Exception:  # the job row stays; the relay will offer it again
                log.exception("job %s failed in the embedded worker", job_id)
