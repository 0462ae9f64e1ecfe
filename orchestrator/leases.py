"""A job's claim kept alive while its connector runs.

A claim holds until `locked_until`; after that the relay hands the job to another worker, which is right for
a worker that died and wrong for one that is merely slow (a campaign to thousands of recipients). So while a
connector runs, a heartbeat renews the lease every third of it. If a renewal finds the claim gone (the lease
ran out during a pause, or an operator released it), it sets the job context's `claim_lost`, and a
connector that sends many messages stops before the next one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, update

from orchestrator.db import Database
from orchestrator.models import Job, JobStatus

log = logging.getLogger(__name__)

_RENEW = (update(Job).where(Job.id == bindparam("job_id"), Job.locked_by == bindparam("token"),
                            Job.status == JobStatus.RUNNING)
          .values(locked_until=bindparam("locked_until", type_=Job.locked_until.type)))


def renew_lease(db: Database, job_id: int, token: str, until: datetime) -> bool:
    """Extend a claim this worker still holds; False when it no longer holds it."""
    with db.statement() as connection:
        return connection.execute(_RENEW, {"job_id": job_id, "token": token, "locked_until": until}).rowcount == 1


@dataclass
class _Claim:
    job_id: int
    token: str
    lease_seconds: float
    lost: threading.Event
    due: float  # time.monotonic() of its next renewal


class Heartbeats:
    """One thread per process renews the leases of every job the process runs (registering a job is a dict
    insert, so a short job pays nothing for it)."""

    def __init__(self, db: Database, now: Callable[[], datetime], *, idle_wait: float = 1.0):
        self._db, self._now, self._idle_wait = db, now, idle_wait
        self._claims: dict[int, _Claim] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._owner_pid = 0
        self._changed = threading.Event()  # a claim due sooner came: the thread works out its next wake-up again
        self._next_wake = 0.0

    @contextmanager
    def keep(self, job_id: int, token: str, lease_seconds: float, lost: threading.Event) -> Iterator[None]:
        """Renew the claim every third of its lease while the block runs; set `lost` when it is gone."""
        claim = _Claim(job_id, token, lease_seconds, lost, time.monotonic() + lease_seconds / 3)
        with self._lock:
            self._claims[job_id] = claim
            if self._thread is None or not self._thread.is_alive() or self._owner_pid != os.getpid():
                self._owner_pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="loopline-leases", daemon=True)
                self._thread.start()
            if claim.due < self._next_wake:  # the usual lease is minutes: most jobs end before the thread wakes
                self._changed.set()
        try:
            yield
        finally:
            with self._lock:
                self._claims.pop(job_id, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                claims = list(self._claims.values())
            now = time.monotonic()
            for claim in claims:
                if claim.due <= now:
                    self._renew(claim)
                    claim.due = time.monotonic() + claim.lease_seconds / 3
            with self._lock:
                self._next_wake = min([claim.due for claim in self._claims.values()],
                                      default=time.monotonic() + self._idle_wait)
            self._changed.wait(max(0.0, self._next_wake - time.monotonic()))
            self._changed.clear()

    def _renew(self, claim: _Claim) -> None:
        try:
            held = renew_lease(self._db, claim.job_id, claim.token,
                               self._now() + timedelta(seconds=claim.lease_seconds))
        except Exception:  # the database is away: the lease still runs, try again at the next beat
            log.warning("could not renew the lease of job %s", claim.job_id, exc_info=True)
            return
        if not held and not claim.lost.is_set():
            log.warning("job %s is no longer held by this worker; its connector is told to stop", claim.job_id)
            claim.lost.set()
