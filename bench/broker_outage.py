"""Command latency while the broker is down (reports only, asserts nothing): one JSON line per backend.

Run:   python -m bench.broker_outage [--quick] [--seconds S] [--rounds N]
       SQLite always; PostgreSQL as well when DATABASE_URL is set (see bench/engine_core.py).

A redis-server of the benchmark's own is the broker. Each round keeps starting bench_jobs instances (each start
creates a job and wakes a worker through the broker) for S seconds with the broker up, and S seconds with it
killed (the order flips every round). Figure "command_latency_broker_down": start latency in ms with the broker
up and down (median and p95 over all starts of that state), and `ratio` = down / up of the medians. No worker
runs: the jobs stay pending, which is what an outage looks like to the commands.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.backends import QA, Backend, bench_engine, configured_backends
from bench.rounds import emit, interleave
from orchestrator.service import Engine
from tasks.celery_app import create_celery
from tasks.jobs import celery_waker
from tests.support.processes import RedisServer, free_port


def start_for(engine: Engine, seconds: float, latencies: list[float]) -> float:
    """Start instances for `seconds`, appending each start's latency; the mean latency."""
    deadline, count, started_at = time.monotonic() + seconds, 0, time.perf_counter()
    while time.monotonic() < deadline:
        started = time.perf_counter()
        engine.instances.start_instance("bench_jobs", actor=QA, variables={"amount": count})
        latencies.append(time.perf_counter() - started)
        count += 1
    return (time.perf_counter() - started_at) / max(count, 1)


def p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95)] if values else float("nan")


def outage(backend: Backend, seconds: float, rounds: int) -> None:
    broker = RedisServer(free_port(), Path(tempfile.mkdtemp(prefix="loopline-bench-redis-")))
    broker.start()
    previous = os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = broker.url  # Celery prefers the variable to the URL it is given
    up: list[float] = []
    down: list[float] = []
    try:
        with bench_engine(Backend(backend.name, backend.database_url, broker.url)) as engine:
            engine.wake = celery_waker(create_celery(engine.settings))
            start_for(engine, 1, [])  # warm-up: imports, definition cache, broker connection

            def broker_up() -> float:
                if broker.process is None or broker.process.poll() is not None:
                    broker.start()
                return start_for(engine, seconds, up)

            def broker_down() -> float:
                broker.stop()
                return start_for(engine, seconds, down)

            interleave({"up": broker_up, "down": broker_down}, rounds)
    finally:
        broker.stop()
        if previous is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = previous
    emit("command_latency_broker_down", backend=backend.name, seconds_per_phase=seconds, rounds=rounds,
         starts_up=len(up), starts_down=len(down),
         up_ms={"median": round(statistics.median(up) * 1000, 3), "p95": round(p95(up) * 1000, 3)},
         down_ms={"median": round(statistics.median(down) * 1000, 3), "p95": round(p95(down) * 1000, 3)},
         ratio=round(statistics.median(down) / statistics.median(up), 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5-second phases, 2 rounds")
    parser.add_argument("--seconds", type=float, help="length of each phase (default 30, quick 5)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3, quick 2)")
    args = parser.parse_args()
    seconds = args.seconds or (5 if args.quick else 30)
    rounds = args.rounds or (2 if args.quick else 3)
    for backend in configured_backends():
        outage(backend, seconds, rounds)


if __name__ == "__main__":
    main()
