"""Campaign send rate (recipients/s) with 1 and 2 workers (reports only, asserts nothing): one JSON line per backend.

Run:   python -m bench.campaign_send [--recipients N] [--latency MS]
       SQLite always; PostgreSQL as well when DATABASE_URL is set (see bench/engine_core.py).

`loopline worker` processes send through the real Twilio and SendGrid SDKs to a loopback provider that takes
each message after `--latency` ms (40 ms by default, a provider's usual answer time). Three runs per backend,
each two campaigns of N recipients (half e-mail, half SMS) started at once:
  serial        1 worker, one message at a time per campaign (LOOPLINE_NOTIFY_CONCURRENCY=1): the baseline;
  1_worker      1 worker, 8 messages at a time;
  2_workers     2 workers, 8 messages at a time each (each worker takes one campaign).
Figure "campaign_send_rate": recipients/s of each run, and `ratio` of each run to the serial one.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.backends import Backend, configured_backends, fresh_database_url
from bench.rounds import emit
from orchestrator.clock import SystemClock
from orchestrator.db import Database
from orchestrator.models import JobStatus
from orchestrator.service import Engine
from orchestrator.settings import Settings
from tasks.celery_app import create_celery
from tasks.jobs import celery_waker
from tests.conftest import ADMIN, deploy_fixture
from tests.integrations.loopback import ProviderServer, Reply
from tests.support import inspect
from tests.support.campaigns import people, provider_env
from tests.support.processes import RedisServer, free_port, start_loopline

RUNS = {"serial": (1, 1), "1_worker": (1, 8), "2_workers": (2, 8)}  # workers, messages at a time


def _finished(engine: Engine, instance_id: str) -> bool:
    [job, *_] = inspect.jobs(engine, instance_id)
    if job.status in (JobStatus.INCIDENT, JobStatus.FAILED):
        raise RuntimeError(f"the campaign job stopped: {job.last_error}")
    return job.status == JobStatus.COMPLETED


def send_rate(backend: Backend, workers: int, concurrency: int, recipients: int, latency: float) -> float:
    """Recipients/s for two campaigns of `recipients` each, from the first start to the last job's end."""
    with tempfile.TemporaryDirectory(prefix="loopline-bench-") as tmp:
        workdir = Path(tmp)
        db = Database(fresh_database_url(backend))
        db.create_schema()
        broker = RedisServer(free_port(), workdir)
        broker.start()
        provider = ProviderServer().start()
        provider.rule(lambda _request: True, Reply(delay=latency))
        env = {"DATABASE_URL": db.url, "CELERY_BROKER_URL": broker.url, "LOOPLINE_HOME": str(workdir),
               "LOOPLINE_ENV": "test", "LOOPLINE_DEPLOY_ON_START": "0", **provider_env(provider.url),
               "LOOPLINE_NOTIFY_CONCURRENCY": str(concurrency)}
        os.environ["CELERY_BROKER_URL"] = broker.url  # Celery prefers the variable to the URL it is given
        settings = Settings.from_env(env)
        engine = Engine(settings, db=db, clock=SystemClock())
        engine.wake = celery_waker(create_celery(settings))
        deploy_fixture(engine, "recall_campaign.bpmn")
        processes = [start_loopline(["worker", "--pool", "solo", "--concurrency", "1"], env, workdir / f"w{n}.log")
                     for n in range(workers)]
        try:
            time.sleep(3)  # the workers connect
            began = time.perf_counter()
            rows = [engine.instances.start_instance(
                "recall_notice", actor=ADMIN, business_key=f"BENCH-{n}", variables={
                    "campaign": f"Bench {n}", "template": "recall_reminder", "recipients": people(recipients, f"B{n}"),
                    "variables": {"product": "Kettle K2", "recallClass": "II"}}) for n in range(2)]
            while not all(_finished(engine, row.id) for row in rows):
                time.sleep(0.05)
            elapsed = time.perf_counter() - began
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
            provider.stop()
            broker.stop()
            db.dispose()
        return 2 * recipients / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1000, help="recipients per campaign (two campaigns)")
    parser.add_argument("--latency", type=float, default=40.0, help="the provider's answer time in ms")
    args = parser.parse_args()
    for backend in configured_backends():
        rates = {name: send_rate(backend, workers, concurrency, args.recipients, args.latency / 1000)
                 for name, (workers, concurrency) in RUNS.items()}
        emit("campaign_send_rate", backend=backend.name, unit="recipients/s", latency_ms=args.latency,
             recipients=2 * args.recipients, **{name: round(rate, 1) for name, rate in rates.items()},
             ratio={name: round(rate / rates["serial"], 2) for name, rate in rates.items()})


if __name__ == "__main__":
    main()
