"""Timer sweep throughput and lateness (reports only, asserts nothing): one JSON line per figure.

Run:   python -m bench.timer_sweep [--due N] [--baseline-due N] [--rate R] [--seconds S] [--threads T]
              [--per-transaction K] [--processes P] [--skip-sqlite]
       SQLite always; PostgreSQL as well when DATABASE_URL is set (see bench/engine_core.py), e.g.
       createdb -h 127.0.0.1 -U postgres benchtimers
       DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/benchtimers python -m bench.timer_sweep

The model is an SLA reminder: a user task with a non-interrupting boundary timer (a date from a variable)
that, when due, creates a reminder job (a service task) while the task stays open. Instances are copies of
one real waiting instance (own ids, own task ids, own due time), inserted before the sweep starts; the sweep
is the real `run_scheduler` loop in a thread of this process, on the system clock. A timer's fire time is
the commit that fired it (seen by an `after_commit` listener), its lateness that minus its due time. Each
variant runs once per invocation: run the benchmark two or three times on a busy machine.

Lines ("figure"), each for the serial sweep as it was before batching (`serial`, the baseline: one instance
per transaction, one thread) and for the sweep as configured now (`batched`; `settings` shows how):
- timer_burst: N timers due at the same moment (10,000; the baseline fires fewer, --baseline-due, since it
  would take minutes): fires_per_s = N / (last fire − due), lateness p50/p95/max in seconds; `ratio` = the
  batched sweep's fires/s over the serial one's.
- timer_steady: timers falling due at R per second for S seconds (200/s for 10 s): lateness p50/p95/max
  (the promise: p95 within 1 s).
On PostgreSQL both also for the batched sweep in P processes (`batched_P_processes`: the loop and P - 1 helper
processes, LOOPLINE_TIMER_PROCESSES); fire times then come from the history (when each fire's command began).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, func, insert, select

from bench.backends import QA, Backend, bench_engine, sqlite_backend
from bench.rounds import emit
from orchestrator.definitions import ModelFile
from orchestrator.errors import EngineError
from orchestrator.models import HistoryEvent, InstanceStatus, ProcessInstance
from orchestrator.service import Engine
from orchestrator.timers import TIMER, Timers
from tasks.scheduler import run_scheduler

TIMER_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="bench_timer_defs" targetNamespace="http://loopline.dev/bench">
 <bpmn:process id="bench_timer" name="Bench timer: review, reminded when due" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:userTask id="review" name="Review" camunda:candidateGroups="qa"/>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
  <bpmn:boundaryEvent id="remind_timer" name="Due" cancelActivity="false" attachedToRef="review">
   <bpmn:timerEventDefinition><bpmn:timeDate>${due}</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="remind_timer" targetRef="remind"/>
  <bpmn:serviceTask id="remind" name="Remind reviewer" camunda:type="external" camunda:topic="demo.echo"/>
  <bpmn:sequenceFlow id="f4" sourceRef="remind" targetRef="reminded"/>
  <bpmn:endEvent id="reminded"/>
 </bpmn:process>
</bpmn:definitions>"""

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LEAD = 2.0  # seconds between inserting the timers and the first one falling due: the sweep is asleep by then


class SerialTimers(Timers):
    """The baseline: the sweep as it was before batching (one instance per transaction, the ids already
    fired this sweep excluded in the claim query), kept here so both are measured in the same process."""

    def _fire_instance_timers(self, limit: int) -> list[str]:
        fired: list[str] = []
        seen: set[str] = set()
        while len(seen) < limit:
            now = self.core.now()
            query = (select(ProcessInstance.id)
                     .where(ProcessInstance.status == InstanceStatus.RUNNING, ProcessInstance.next_timer_at <= now)
                     .order_by(ProcessInstance.next_timer_at).limit(1))
            if seen:
                query = query.where(ProcessInstance.id.not_in(seen))
            if self.core.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            instance_id = None
            try:
                with self.core.db.transaction() as session:
                    instance_id = session.scalar(query)
                    if instance_id is None:
                        break
                    seen.add(instance_id)
                    with self.core.command(instance_id, TIMER, session=session) as ctx:
                        ctx.run_engine()
            except EngineError as exc:
                self._park_failed_timer(instance_id, exc.message, None)
                continue
            fired.append(instance_id)
        return fired


class WaitingTemplate:
    """One real instance waiting on the bench timer, copied into as many instances as a scenario needs."""

    def __init__(self, engine: Engine):
        self.due = datetime.now(UTC) + timedelta(days=1)
        row = engine.instances.start_instance("bench_timer", actor=QA, variables={"due": self.due.isoformat()})
        with engine.db.reading() as session:
            self.row = session.get(ProcessInstance, row.id)

    def copies(self, dues: list[datetime], marker: str = "bench") -> list[dict]:
        """Instance rows like the template, each with its own ids and due time, started by `marker`."""
        rows = []
        for number, due in enumerate(dues):
            state = _UUID.sub(_FreshIds(), self.row.state)
            rows.append(dict(id=str(uuid.uuid4()), definition_id=self.row.definition_id,
                             business_key=f"BENCH-T-{number}", status=InstanceStatus.RUNNING, version=1,
                             state=state.replace(self.due.isoformat(), due.isoformat()), next_timer_at=due,
                             started_by=marker, started_at=self.row.started_at, variables=self.row.variables))
        return rows


class _FreshIds:
    """A replacement for each id in a state: a new one, the same wherever the old one occurs."""

    def __init__(self):
        self.fresh: dict[str, str] = {}

    def __call__(self, match: re.Match) -> str:
        return self.fresh.setdefault(match[0], str(uuid.uuid4()))


def insert_instances(engine: Engine, rows: list[dict]) -> None:
    with engine.db.transaction() as session:
        for start in range(0, len(rows), 1000):
            session.execute(insert(ProcessInstance), rows[start:start + 1000])


class FireTimes:
    """When each watched instance's timer fired: the first commit of a transaction that loaded it."""

    def __init__(self, engine: Engine, instance_ids: set[str]):
        self.engine = engine
        self.waiting = set(instance_ids)
        self.fired_at: dict[str, datetime] = {}
        self.lock = threading.Lock()
        event.listen(engine.db.sessions, "after_commit", self._on_commit)

    def _on_commit(self, session) -> None:
        now = datetime.now(UTC)
        ids = [obj.id for obj in list(session.identity_map.values()) if isinstance(obj, ProcessInstance)]
        with self.lock:
            for instance_id in ids:
                if instance_id in self.waiting:
                    self.waiting.discard(instance_id)
                    self.fired_at[instance_id] = now

    def wait_all(self, stall: float = 30) -> None:
        """Return once every watched timer fired; raise TimeoutError when none fired for `stall` seconds."""
        count, progress_at = len(self.fired_at), time.monotonic()
        while self.waiting:
            time.sleep(0.02)
            if len(self.fired_at) > count:
                count, progress_at = len(self.fired_at), time.monotonic()
            elif time.monotonic() - progress_at > stall:
                raise TimeoutError(f"{len(self.waiting)} timers never fired")

    def close(self) -> None:
        event.remove(self.engine.db.sessions, "after_commit", self._on_commit)


def run_sweep(engine: Engine, timers: Timers, dues: list[datetime], template: WaitingTemplate,
              helper_processes: int = 1) -> dict:
    """Insert timers due at `dues`, sweep with `timers` (and `helper_processes` - 1 helper processes) until all
    fired; lateness per timer and the last fire."""
    marker = f"bench-{uuid.uuid4()}"
    rows = template.copies(dues, marker)
    insert_instances(engine, rows)
    due_by_id = {row["id"]: row["next_timer_at"] for row in rows}
    watch = FireTimes(engine, set(due_by_id))
    sweeping, settings = engine.timers, engine.settings
    engine.timers = timers
    engine.settings = replace(settings, timer_sweep_processes=helper_processes)
    stop = threading.Event()
    sweeper = threading.Thread(target=run_scheduler, args=(engine, stop), name="bench-sweep", daemon=True)
    sweeper.start()
    try:
        if helper_processes > 1:
            fired_at = wait_for_history(engine, marker, due_by_id)
        else:
            watch.wait_all()
            fired_at = watch.fired_at
    finally:
        stop.set()
        sweeper.join(timeout=60)
        engine.timers, engine.settings = sweeping, settings
        watch.close()
    lateness = sorted((fired_at[i] - due).total_seconds() for i, due in due_by_id.items())
    return {"lateness": lateness, "last_fire": max(fired_at.values())}


def wait_for_history(engine: Engine, marker: str, due_by_id: dict[str, datetime],
                     stall: float = 30) -> dict[str, datetime]:
    """Fire times of timers that other processes fire too: each one's history event (the time its command
    began, at most one batch earlier than its commit), once none of the instances started by `marker` waits."""
    waiting = select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.started_by == marker, ProcessInstance.next_timer_at.is_not(None))
    with engine.db.reading() as session:
        left, progress_at = session.scalar(waiting), time.monotonic()
    while left:
        time.sleep(0.1)
        with engine.db.reading() as session:
            still = session.scalar(waiting)
        if still < left:
            left, progress_at = still, time.monotonic()
        elif time.monotonic() - progress_at > stall:
            raise TimeoutError(f"{still} timers never fired")
    with engine.db.reading() as session:
        fired = session.execute(
            select(HistoryEvent.instance_id, func.min(HistoryEvent.at))
            .join(ProcessInstance, ProcessInstance.id == HistoryEvent.instance_id)
            .where(ProcessInstance.started_by == marker, HistoryEvent.type == "element_completed",
                   HistoryEvent.element_id == "remind_timer")
            .group_by(HistoryEvent.instance_id)).all()
    return dict(fired)


def lateness_figures(lateness: list[float]) -> dict:
    return {"p50": round(statistics.median(lateness), 3), "p95": round(lateness[int(len(lateness) * 0.95)], 3),
            "max": round(lateness[-1], 3)}


def burst(engine: Engine, timers: Timers, template: WaitingTemplate, count: int, processes: int = 1) -> dict:
    due = datetime.now(UTC) + timedelta(seconds=LEAD)
    result = run_sweep(engine, timers, [due] * count, template, processes)
    span = (result["last_fire"] - due).total_seconds()
    return {"due": count, "fires_per_s": round(count / span, 1), "lateness_s": lateness_figures(result["lateness"])}


def steady(engine: Engine, timers: Timers, template: WaitingTemplate, rate: float, seconds: float,
           processes: int = 1) -> dict:
    first = datetime.now(UTC) + timedelta(seconds=LEAD)
    dues = [first + timedelta(seconds=n / rate) for n in range(int(rate * seconds))]
    result = run_sweep(engine, timers, dues, template, processes)
    return {"due": len(dues), "rate_per_s": rate, "seconds": seconds, "lateness_s": lateness_figures(result["lateness"])}


def measure(backend: Backend, args) -> None:
    with bench_engine(backend) as engine:
        engine.deployments.deploy([ModelFile("bench_timer.bpmn", TIMER_MODEL)], actor=QA)
        tuning = {key: value for key, value in (("timer_sweep_threads", args.threads),
                                                ("timer_fires_per_transaction", args.per_transaction)) if value}
        # nothing to relay: keep the loop on timers
        engine.settings = replace(engine.settings, relay_interval=60.0, **tuning)
        template = WaitingTemplate(engine)
        serial, batched = SerialTimers(engine), engine.timers
        burst(engine, batched, template, 50)  # warm-up: definition cache, connections, statement caches
        configuration = {key: getattr(engine.settings, key) for key in vars(engine.settings)
                         if key.startswith("timer_")}
        before = burst(engine, serial, template, min(args.due, args.baseline_due))
        now = burst(engine, batched, template, args.due)
        helped = {}
        if backend.is_postgres and args.processes > 1:
            helped = {f"batched_{args.processes}_processes": burst(engine, batched, template, args.due, args.processes)}
        emit("timer_burst", backend=backend.name, settings=configuration, serial=before, batched=now, **helped,
             ratio=round(now["fires_per_s"] / before["fires_per_s"], 2))
        before = steady(engine, serial, template, args.rate, args.baseline_seconds or args.seconds)
        now = steady(engine, batched, template, args.rate, args.seconds)
        if backend.is_postgres and args.processes > 1:
            helped = {f"batched_{args.processes}_processes": steady(engine, batched, template, args.rate,
                                                                    args.seconds, args.processes)}
        emit("timer_steady", backend=backend.name, settings=configuration, serial=before, batched=now, **helped)


def backends(skip_sqlite: bool) -> list[Backend]:
    """SQLite unless skipped, PostgreSQL when DATABASE_URL names it (the sweep needs no broker)."""
    database_url = os.environ.get("DATABASE_URL", "")
    postgres = [Backend("postgres", database_url, "memory://")] if database_url.startswith("postgresql") else []
    return ([] if skip_sqlite else [sqlite_backend()]) + postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--due", type=int, default=10_000, help="timers due at once (default 10,000)")
    parser.add_argument("--baseline-due", type=int, default=2_000,
                        help="timers due at once for the serial sweep (default 2,000)")
    parser.add_argument("--rate", type=float, default=200.0, help="timers falling due per second (default 200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long they keep falling due (default 10)")
    parser.add_argument("--baseline-seconds", type=float, help="the same for the serial sweep (default: --seconds)")
    parser.add_argument("--threads", type=int, help="sweep threads of the batched sweep (default: the setting)")
    parser.add_argument("--per-transaction", type=int, help="fires per transaction (default: the setting)")
    parser.add_argument("--processes", type=int, default=2,
                        help="also measure the batched sweep with this many sweep processes on PostgreSQL (default 2)")
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    for backend in backends(args.skip_sqlite):
        try:
            measure(backend, args)
        except Exception as exc:
            emit("timer_burst", backend=backend.name, error=f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
