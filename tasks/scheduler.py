"""The sweep loop of `loopline beat` and of the embedded mode: fire timers when due, relay the outbox,
look for recall signals now and then. On PostgreSQL, helper processes may fire instance timers alongside
(`LOOPLINE_TIMER_PROCESSES`): firing is engine work that holds the GIL, so a second process doubles it."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime

from orchestrator.checkpoints import checkpoint_if_changed
from orchestrator.service import Engine
from orchestrator.settings import Settings
from orchestrator.spreadsheet_imports import SpreadsheetImports

log = logging.getLogger(__name__)


def run_scheduler(engine: Engine, stop: threading.Event) -> None:
    """Sleep until the next timer is due (at most one interval), fire due timers, relay jobs now and then; while
    a backlog of due timers lasts, sweep again at once."""
    next_relay = 0.0
    next_signal = time.monotonic() + engine.settings.recall_signal_interval
    checkpoints = AuditCheckpoints(engine)
    helpers = TimerProcesses(engine.settings) if TimerProcesses.wanted(engine) else None
    imports = SpreadsheetImports(engine, engine.start_forms)

    def sweep_round() -> bool:
        nonlocal next_relay, next_signal
        fired = engine.timers.fire_due_timers()
        if time.monotonic() >= next_relay:
            engine.relay.relay_jobs()
            next_relay = time.monotonic() + engine.settings.relay_interval
        if time.monotonic() >= next_signal:
            # moved on first: a failing evaluation waits for the next interval, it does not hold every round
            next_signal = time.monotonic() + engine.settings.recall_signal_interval
            engine.signals.start_recall_evaluations()
        checkpoints.when_due()
        batches = engine.batches.run_round()  # a slice of a batch operation's cases; resumes where it stopped
        imported = imports.run_round()  # the next rows of a started spreadsheet import; resumes likewise
        return len(fired) >= engine.settings.timer_batch_size or batches.more or imported.more

    try:
        sweep_until(engine, sweep_round, engine.timers.next_due_at, stop.is_set, stop.wait)
    finally:
        if helpers is not None:
            helpers.stop()


class AuditCheckpoints:
    """Sign a checkpoint of every case's history head every `audit_checkpoint_interval` seconds, so a case
    deleted whole is found by `loopline audit verify` without anyone remembering to run `audit checkpoint`.
    The first one is written a minute after start (a restart loop does not write one each time)."""

    def __init__(self, engine: Engine, first_after: float = 60.0):
        self.engine = engine
        self.interval = engine.settings.audit_checkpoint_interval
        self.next_at = time.monotonic() + min(first_after, self.interval)

    def when_due(self) -> None:
        if self.interval <= 0 or time.monotonic() < self.next_at:
            return
        self.next_at = time.monotonic() + self.interval
        checkpoint = checkpoint_if_changed(self.engine.db, self.engine.settings.audit_signing_key, self.engine.now())
        if checkpoint is not None:
            # the digest in the log is a copy outside the database: compare it with `audit verify` later
            log.info("audit checkpoint #%s: %s cases, digest %s", checkpoint.id, len(checkpoint.entries),
                     checkpoint.digest)


def sweep_until(engine: Engine, sweep_round: Callable[[], bool], next_due: Callable[[], datetime | None],
                stopped: Callable[[], bool], wait: Callable[[float], object]) -> None:
    """Run `sweep_round` (True: a backlog is left) until stopped: at once again while a backlog lasts, else
    when `next_due` says, at most one interval later. A failing round is logged; the next one retries."""
    interval = engine.settings.timer_sweep_interval
    while not stopped():
        try:
            if sweep_round():
                continue  # more may be due: no sleeping, no asking
            due = next_due()
        except Exception:  # keep sweeping through a database hiccup; the next round retries
            log.exception("timer sweep failed")
            due = None
        wait(interval if due is None else min(interval, _seconds_until(engine, due) + 0.005))


def _seconds_until(engine: Engine, due: datetime) -> float:
    return max(0.0, (due - engine.now()).total_seconds())


class TimerProcesses:
    """`timer_sweep_processes - 1` helper processes that fire instance timers beside the scheduler loop (SKIP
    LOCKED keeps their batches apart). They stop with the loop, or on their own once the loop's process is gone."""

    def __init__(self, settings: Settings):
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self.stop_event = context.Event()
        self.processes = [context.Process(target=fire_instance_timers_until_stopped, name=f"loopline-timers-{n}",
                                          args=(settings, self.stop_event, os.getpid()))
                          for n in range(1, settings.timer_sweep_processes)]
        for process in self.processes:
            process.start()

    @staticmethod
    def wanted(engine: Engine) -> bool:
        """Only for `loopline beat` on PostgreSQL: SQLite has one writer, and without a broker a helper could
        not wake the in-process worker for the jobs its fires create."""
        settings = engine.settings
        return settings.timer_sweep_processes > 1 and engine.db.is_postgres and not settings.embedded

    def stop(self) -> None:
        self.stop_event.set()
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()


def fire_instance_timers_until_stopped(settings: Settings, stop_event, parent_pid: int) -> None:
    """A helper process: an engine of its own (waking workers as the loop's does) firing due instance timers."""
    # imported here: the runtime imports the embedded mode, which imports this module
    from tasks.runtime import build_runtime

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the loop stops its helpers
    engine = build_runtime(settings, start_embedded=False).engine

    def sweep_round() -> bool:
        return len(engine.timers.fire_due_instance_timers()) >= settings.timer_batch_size

    try:
        sweep_until(engine, sweep_round, lambda: engine.timers.next_due_at(starts=False),
                    lambda: stop_event.is_set() or os.getppid() != parent_pid, stop_event.wait)
    finally:
        engine.db.dispose()
