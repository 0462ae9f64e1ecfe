"""Worker throughput benchmark (reports only, asserts nothing): 1, 2 and 4 `loopline worker` processes.

Needs PostgreSQL + Redis (SQLite has one writer, so more workers cannot help there):
       createdb -h 127.0.0.1 -U postgres bench
       DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench \
       CELERY_BROKER_URL=redis://127.0.0.1:6379/5 python -m bench.engine_throughput [--quick] [--rounds N]
Also run by `python -m bench.engine_core`.

Each round starts N worker processes (`loopline worker --pool solo`, in the schema `loopline_bench`), waits
until they are ready, then client threads of this process start instances (start → two service tasks → end,
so the workers carry most of the work) as fast as they can. A round's figure is instances completed per
second, from the first start until no instance runs. Worker counts take turns (1 2 4, 4 2 1, …).

Two kinds of jobs, measured one after the other:
  echo    bench_jobs: `demo.echo`, no outside system, so every party only burns CPU. On a machine with few
          cores the clients, PostgreSQL, Redis and the workers share them, and a second worker can only use
          what the others leave idle (see `machine_busy_pct`).
  erp     bench_erp_jobs: both tasks POST to a stand-in ERP on loopback that answers after `--latency` ms
          (20 by default) through the real `http.request` connector, as service tasks do in real processes.
          A worker waits while the ERP works, so more workers help unless they hold each other up.

One line per kind and worker count ("figure": "worker_throughput"): instances/s (median, min, max,
spread_pct), `ratio_vs_1_worker` (median of the per-round ratios), `clients_s`, the time the clients took
to start their instances (when it is close to the whole round, the clients were the limit), the machine's
cores and load average before the rounds, and where the CPU went (bench/cpu_use.py): `cpu_ms_per_instance`
by party and `machine_busy_pct` (medians over the rounds; near 100 the machine, not Loopline, was the limit).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

from bench.backends import QA, Backend, bench_engine, cancel_running, postgres_backend, wait_until_all_ended
from bench.cpu_use import CpuUse
from bench.erp_jobs import bench_erp_model
from bench.rounds import emit, interleave, paired_ratio, spread
from orchestrator.service import Engine
from orchestrator.settings import REPO_ROOT
from tasks.celery_app import create_celery
from tasks.jobs import celery_waker
from tests.support.http_stub import StubServer

WORKER_COUNTS = (1, 2, 4)
CLIENTS = 4
ERP_LATENCY_MS = 20.0
PARTIES = ("workers", "clients", "postgres", "redis")


def start_workers(engine: Engine, count: int, logs: Path, env_extra: dict[str, str] | None = None
                  ) -> list[tuple[subprocess.Popen, Path]]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "DATABASE_URL": engine.settings.database_url,
           "CELERY_BROKER_URL": engine.settings.broker_url, "LOOPLINE_HOME": str(engine.settings.home),
           "LOOPLINE_ENV": "test", "LOOPLINE_DEPLOY_ON_START": "0", **(env_extra or {})}
    workers = []
    for number in range(count):
        log = logs / f"worker-{count}-{number}-{time.monotonic_ns()}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen([sys.executable, "-m", "web.cli", "worker", "--pool", "solo",
                                        "--concurrency", "1"], cwd=REPO_ROOT, env=env, stdout=output,
                                       stderr=subprocess.STDOUT)
        workers.append((process, log))
    return workers


def wait_until_ready(workers: list[tuple[subprocess.Popen, Path]], timeout: float = 120) -> None:
    """Return once every worker has logged that it is ready to consume."""
    deadline = time.monotonic() + timeout
    for process, log in workers:
        while "ready." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not become ready:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)


def stop_workers(workers: list[tuple[subprocess.Popen, Path]]) -> None:
    for process, _log in workers:
        process.terminate()
    for process, _log in workers:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def start_instances(engine: Engine, count: int, clients: int, process_id: str = "bench_jobs") -> float:
    """Start `count` instances of `process_id` from `clients` threads; the seconds it took."""
    started = time.perf_counter()
    failures: list[BaseException] = []

    def client(share: int) -> None:
        try:
            for _ in range(share):
                engine.instances.start_instance(process_id, actor=QA)
        except BaseException as exc:  # reported by the round, which must not hang on a dead client
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(count // clients + (n < count % clients),))
               for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - started


class ThroughputRounds:
    """One round = fresh worker processes, a burst of instances from the clients, wait until all ended."""

    def __init__(self, engine: Engine, instances: int, clients: int, logs: Path, process_id: str = "bench_jobs",
                 worker_env: dict[str, str] | None = None):
        self.engine, self.instances, self.clients, self.logs = engine, instances, clients, logs
        self.process_id, self.worker_env = process_id, worker_env or {}
        self.client_seconds: dict[int, list[float]] = {count: [] for count in WORKER_COUNTS}
        self.cpu: dict[int, list[dict[str, float]]] = {count: [] for count in WORKER_COUNTS}
        self.errors: dict[int, str] = {}

    def measure(self, worker_count: int) -> float:
        """Instances/s with `worker_count` worker processes; NaN (and the error kept) if the round failed."""
        workers = start_workers(self.engine, worker_count, self.logs, self.worker_env)
        try:
            wait_until_ready(workers)
            before, started = CpuUse.read(), time.perf_counter()
            self.client_seconds[worker_count].append(
                start_instances(self.engine, self.instances, self.clients, self.process_id))
            wait_until_all_ended(self.engine, poll=0.02)  # the watcher's own polling takes CPU from the parties
            rate = self.instances / (time.perf_counter() - started)
            after = CpuUse.read()
            if before and after:
                self.cpu[worker_count].append(after.since(before))
            return rate
        except (RuntimeError, TimeoutError) as exc:
            self.errors[worker_count] = f"{type(exc).__name__}: {exc} (worker logs in {self.logs})"
            cancel_running(self.engine)
            return math.nan
        finally:
            stop_workers(workers)


def run(backend: Backend | None, rounds: int, quick: bool, clients: int = CLIENTS,
        latency_ms: float = ERP_LATENCY_MS) -> None:
    """Measure and print the worker_throughput lines (one line saying why, when PostgreSQL + Redis are missing)."""
    if backend is None:
        emit("worker_throughput", skipped="needs DATABASE_URL=postgresql+psycopg://… and CELERY_BROKER_URL=redis://…")
        return
    machine = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}  # busy cores cap the scaling
    erp = StubServer(default=(200, {"booked": True}), default_delay=latency_ms / 1000)
    erp_host = erp.url.removeprefix("http://")
    kinds = {  # name: process, instances a round, what the workers need, what the line says of the jobs
        "echo": ("bench_jobs", 60 if quick else 300, {}, {"system_latency_ms": None}),
        "erp": ("bench_erp_jobs", 30 if quick else 150, {"LOOPLINE_HTTP_ALLOWED_HOSTS": erp_host},
                {"system_latency_ms": latency_ms}),
    }
    try:
        with bench_engine(backend) as engine:
            engine.deployments.deploy([bench_erp_model(erp.url)], actor=QA)
            app = create_celery(engine.settings)
            app.control.purge()  # messages a crashed earlier run left behind
            engine.wake = celery_waker(app)
            warm_up = engine.instances.start_instance("bench_jobs", actor=QA)  # caches and connections
            engine.instances.cancel_instance(warm_up.id, actor=QA)
            for kind, (process_id, instances, worker_env, described) in kinds.items():
                logs = Path(tempfile.mkdtemp(prefix="loopline-bench-"))
                measuring = ThroughputRounds(engine, instances, clients, logs, process_id, worker_env)
                samples = interleave({count: partial(measuring.measure, count) for count in WORKER_COUNTS}, rounds)
                for count in WORKER_COUNTS:
                    emit("worker_throughput", backend=backend.name, jobs=kind, **described, workers=count,
                         clients=clients, **machine, rounds=rounds, instances_per_round=instances,
                         instances_per_s=spread(samples[count]),
                         ratio_vs_1_worker=paired_ratio(samples[count], samples[1])["ratio"],
                         clients_s=spread(measuring.client_seconds[count]) if measuring.client_seconds[count] else None,
                         **cpu_figures(measuring.cpu[count], instances),
                         **({"error": measuring.errors[count]} if count in measuring.errors else {}))
    finally:
        erp.close()


def cpu_figures(rounds: list[dict[str, float]], instances: int) -> dict:
    """Median CPU ms per instance by party, and the machine's median busy share, over a worker count's rounds."""
    if not rounds:
        return {}
    return {"cpu_ms_per_instance": {party: round(statistics.median(r.get(party, 0.0) for r in rounds)
                                                 * 1000 / instances, 2) for party in PARTIES},
            "machine_busy_pct": round(statistics.median(r["machine_busy_pct"] for r in rounds), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 instances a round, 2 rounds")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, quick 2)")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="client threads starting instances")
    parser.add_argument("--latency", type=float, default=ERP_LATENCY_MS, help="ms the stand-in ERP takes to answer")
    args = parser.parse_args()
    run(postgres_backend(), rounds=args.rounds or (2 if args.quick else 5), quick=args.quick, clients=args.clients,
        latency_ms=args.latency)


if __name__ == "__main__":
    main()
