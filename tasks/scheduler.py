"""The sweep loop of `loopline beat` and of the embedded mode: fire timers when due, relay the outbox,
look for recall signals now and then."""

from __future__ import annotations

import logging
import threading
import time

from orchestrator.service import Engine

log = logging.getLogger(__name__)


def run_scheduler(engine: Engine, stop: threading.Event) -> None:
    """Sleep until the next timer is due (at most one interval), fire due timers, relay jobs now and then; while
    a backlog of due timers lasts, sweep again at once."""
    interval = engine.settings.timer_sweep_interval
    next_relay = 0.0
    next_signal = time.monotonic() + engine.settings.recall_signal_interval
    while not stop.is_set():
        backlog = False
        try:
            fired = engine.timers.fire_due_timers()
            backlog = len(fired) >= engine.settings.timer_batch_size  # more may be due: no sleeping, no asking
            if time.monotonic() >= next_relay:
                engine.relay.relay_jobs()
                next_relay = time.monotonic() + engine.settings.relay_interval
            if time.monotonic() >= next_signal:
                engine.signals.start_recall_evaluations()
                next_signal = time.monotonic() + engine.settings.recall_signal_interval
            due = None if backlog else engine.timers.next_due_at()
        except Exception:  # keep sweeping through a database hiccup; the next round retries
            log.exception("timer sweep failed")
            due, backlog = None, False
        if backlog:
            continue
        wait = interval
        if due is not None:
            wait = min(interval, max(0.0, (due - engine.now()).total_seconds()) + 0.005)
        stop.wait(wait)
