"""The bell long-polling external-task fetches wait on: rung after commit when jobs of external topics appear.

Jobs of a topic listed in `LOOPLINE_EXTERNAL_TOPICS` wait for an outside client (Camunda external-task
protocol) instead of a Loopline worker, so they are split off the worker wake-up and ring this bell instead.
In one process a condition variable is enough; with a Redis broker the ring is published on a channel and
every process's subscriber thread rings its local condition, so a fetch held by one web process wakes when a
Celery worker on another machine creates the job. A lost ring costs at most one long-poll timeout: the
database stays the source of truth and every fetch re-reads it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.models import Job

log = logging.getLogger(__name__)
CHANNEL = "loopline:external-jobs"


class JobBell:
    """Counts rings; a waiter notes the count before reading the database and sleeps only if it is unchanged."""

    def __init__(self, external_topics: Iterable[str] = (), broker_url: str = ""):
        self.external_topics = frozenset(external_topics)
        self._redis_url = broker_url if broker_url.startswith(("redis://", "rediss://")) else ""
        self._condition = threading.Condition()
        self._rings = 0
        self._subscriber: threading.Thread | None = None
        self._publisher = None

    def split(self, session: Session, job_ids: list[int]) -> tuple[list[int], set[str]]:
        """Job ids for Loopline's workers, and the external topics among the rest (read before commit)."""
        if not self.external_topics or not job_ids:
            return job_ids, set()
        rows = session.execute(select(Job.id, Job.topic).where(Job.id.in_(job_ids))).all()
        external = {job_id: topic for job_id, topic in rows if topic in self.external_topics}
        return [job_id for job_id in job_ids if job_id not in external], set(external.values())

    def ring(self, topics: Iterable[str]) -> None:
        """Wake every fetch waiting here (and, through Redis, in every other process)."""
        topics = sorted(set(topics))
        if not topics:
            return
        if self._redis_url:
            try:
                if self._publisher is None:
                    self._publisher = self._redis(socket_timeout=2)
                self._publisher.publish(CHANNEL, ",".join(topics))
                return
            except Exception:  # noqa: BLE001 - the local ring still wakes this process; others time out
                log.warning("could not publish external-job ring; waiting fetches elsewhere time out", exc_info=True)
        self._ring_here()

    def mark(self) -> int:
        """The ring count to pass to `wait` after reading the database."""
        self._ensure_subscriber()
        with self._condition:
            return self._rings

    def wait(self, mark: int, timeout: float) -> bool:
        """Sleep until a ring after `mark` or `timeout` seconds; True if rung."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._condition:
            while self._rings == mark:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._condition.wait(left)
            return True

    def _ring_here(self) -> None:
        with self._condition:
            self._rings += 1
            self._condition.notify_all()

    def _redis(self, socket_timeout: float | None = None):
        import redis

        return redis.Redis.from_url(self._redis_url, socket_connect_timeout=2, socket_timeout=socket_timeout)

    def _ensure_subscriber(self) -> None:
        if not self._redis_url or (self._subscriber is not None and self._subscriber.is_alive()):
            return
        with self._condition:
            if self._subscriber is not None and self._subscriber.is_alive():
                return
            ready = threading.Event()
            self._subscriber = threading.Thread(target=self._listen, args=(ready,), name="loopline-job-bell",
                                                daemon=True)
            self._subscriber.start()
        ready.wait(2)  # subscribed before the first database read, so no ring falls between them

    def _listen(self, ready: threading.Event) -> None:
        """Relay rings published by any process to this process's waiters; reconnect after a Redis outage."""
        while True:
            try:
                pubsub = self._redis().pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                ready.set()
                for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._ring_here()
            except Exception:  # noqa: BLE001 - waiters still return at their timeout
                ready.set()
                log.warning("external-job bell lost Redis; reconnecting", exc_info=True)
                self._ring_here()  # let waiters re-read the database rather than miss a ring
                time.sleep(1)
