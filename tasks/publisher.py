"""Wake-ups published on a thread of their own, so no command ever waits for the broker.

A wake-up only tells a worker to look at a job row that is already committed; losing one delays the job
until the relay sweep enqueues it again. So when the broker is slow or down, commands must not pay for it
(a broker client retries its connection for seconds): they hand the job ids to this thread and return.
After a failed publish the thread drops wake-ups for a short pause instead of queueing them behind a dead
connection; the relay picks those jobs up once the broker is back.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundWaker:
    """A JobWaker (`waker(job_ids)`) that never blocks: `publish(job_id)` runs on a daemon thread."""

    def __init__(self, publish: Callable[[int], None], *, pause_after_failure: float = 5.0):
        self._publish = publish
        self._pause = pause_after_failure
        self._queue: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
        self._handed_over = threading.Condition()
        self._outstanding = 0  # batches handed over and not yet published or dropped
        self._thread: threading.Thread | None = None
        self._owner_pid = 0  # a forked worker process starts a thread of its own
        self._paused_until = 0.0

    def __call__(self, job_ids: list[int]) -> None:
        if not job_ids or self.paused:
            return
        self._ensure_thread()
        with self._handed_over:
            self._outstanding += 1
        self._queue.put(list(job_ids))

    @property
    def paused(self) -> bool:
        """True shortly after a publish failed: wake-ups are dropped, the relay resends them."""
        return time.monotonic() < self._paused_until

    def idle(self, timeout: float = 5.0) -> bool:
        """Wait until every wake-up handed over so far was published or dropped (tests, shutdown)."""
        with self._handed_over:
            return self._handed_over.wait_for(lambda: self._outstanding == 0, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive() and self._owner_pid == os.getpid():
            self._queue.put(None)
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        with self._handed_over:
            if self._thread is not None and self._thread.is_alive() and self._owner_pid == os.getpid():
                return
            if self._owner_pid != os.getpid():  # forked: the parent's unsent wake-ups stay the parent's
                self._queue, self._outstanding = queue.SimpleQueue(), 0
            self._owner_pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="loopline-waker", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while (job_ids := self._queue.get()) is not None:
            try:
                self._send(job_ids)
            finally:
                with self._handed_over:
                    self._outstanding -= 1
                    self._handed_over.notify_all()

    def _send(self, job_ids: list[int]) -> None:
        for number, job_id in enumerate(job_ids):
            if self.paused:
                log.info("broker unavailable: %d wake-ups left to the relay", len(job_ids) - number)
                return
            try:
                self._publish(job_id)
            except Exception:
                self._paused_until = time.monotonic() + self._pause
                log.warning("could not publish wake-ups for jobs %s; the relay will resend them",
                            job_ids[number:], exc_info=True)
                return
