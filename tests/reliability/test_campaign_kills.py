"""A recall campaign reaches every recipient exactly once while its workers are killed again and again.

Two `loopline worker` processes send through the real Twilio and SendGrid SDKs to a loopback provider in
this process; one of them is killed with SIGKILL twenty times at random moments (mid-send, mid-write) and
started again. The provider's own record (what it took) is the judge: each recipient once, none missing.
The campaign's counts, as the case page shows them, never count a message the provider did not take.
"""

from __future__ import annotations

import json
import random
import signal
import time

from integrations.notify.tracking import case_campaigns
from orchestrator.clock import SystemClock
from orchestrator.models import InstanceStatus, JobStatus
from orchestrator.service import Engine
from orchestrator.settings import Settings
from tasks.celery_app import create_celery
from tasks.jobs import celery_waker
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect
from tests.support.campaigns import addresses, people, provider_env
from tests.support.processes import own_redis, start_loopline

KILLS = 20


def campaign_env(db, broker: str, tmp_path, provider_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": db.url, "CELERY_BROKER_URL": broker, "LOOPLINE_HOME": str(tmp_path),
        "LOOPLINE_ENV": "test", "LOOPLINE_DEPLOY_ON_START": "0", **provider_env(provider_url),
        # a silent worker's campaign passes to another after 3 s + 1 s of slack (and may do so often: the
        # job is not given up as one that kills its workers); a message whose sender died is asked about at
        # the provider 2 s + 0.5 s after it was claimed
        "LOOPLINE_NOTIFY_CAMPAIGN_TIMEOUT": "3", "LOOPLINE_JOB_LEASE_SECONDS": "1", "LOOPLINE_RELAY_STALE_AFTER": "1",
        "LOOPLINE_TOPIC_RETRY": json.dumps({"notify.campaign": {"timeout": 3, "max_attempts": 100}}),
        "LOOPLINE_NOTIFY_TIMEOUT": "2", "LOOPLINE_NOTIFY_LOOKUP_DELAY": "0.5", "LOOPLINE_NOTIFY_CONCURRENCY": "8",
    }


def _victim(engine: Engine, instance_id: str, workers: list, rng: random.Random) -> int:
    """Mostly the worker sending the campaign right now (its pid is in the job's claim), else either."""
    [job, *_] = inspect.jobs(engine, instance_id)
    holder = [i for i, process in enumerate(workers) if f":{process.pid}:" in (job.locked_by or "")]
    return holder[0] if holder and rng.random() < 0.8 else rng.randrange(len(workers))


def test_every_recipient_gets_the_notice_exactly_once_while_workers_are_killed(
        shared_database, tmp_path, monkeypatch, provider_server):
    count = 20_000 if shared_database.is_postgres else 2_000  # SQLite: one writer at a time, a smaller campaign
    rng = random.Random(20261203)
    with own_redis(tmp_path) as broker:
        env = campaign_env(shared_database, broker.url, tmp_path, provider_server.url)
        monkeypatch.setenv("CELERY_BROKER_URL", broker.url)
        settings = Settings.from_env(env)
        engine = Engine(settings, db=shared_database, clock=SystemClock())
        engine.wake = celery_waker(create_celery(settings))
        deploy_fixture(engine, "recall_campaign.bpmn")

        def worker(n: int):
            return start_loopline(["worker", "--pool", "solo", "--concurrency", "1"], env, tmp_path / f"w{n}.log")

        workers = [worker(0), worker(1)]
        started = 2
        row = engine.instances.start_instance(
            "recall_notice", actor=ADMIN, business_key="RECALL-KILLS", variables={
                "campaign": "Kettle K2 class I recall", "template": "recall_reminder", "recipients": people(count),
                "variables": {"product": "Kettle K2", "recallClass": "I"}})
        samples, kills = [], 0
        deadline = time.monotonic() + 900
        # a kill when the campaign has sent a random few hundred more since the last one (so most land mid-send),
        # or after a random pause when it makes no progress (a kill while rows are stored, or while it waits)
        kill_at_sent, kill_by = rng.randint(0, 300), time.monotonic() + rng.uniform(5.0, 15.0)
        try:
            while time.monotonic() < deadline:
                engine.relay.relay_jobs()  # hands a dead worker's campaign on once its lease ran out
                with shared_database.reading() as session:
                    progress = case_campaigns(session, row.id)
                taken = len({r.recipient for r in provider_server.accepted()})
                sent_now = progress[0].counts["sent"] if progress else 0
                if progress:
                    samples.append((progress[0].counts, taken))
                if kills < KILLS and (sent_now >= kill_at_sent or time.monotonic() >= kill_by):
                    victim = _victim(engine, row.id, workers, rng)
                    workers[victim].send_signal(signal.SIGKILL)
                    workers[victim].wait(timeout=10)
                    workers[victim] = worker(started)
                    started += 1
                    kills += 1
                    kill_at_sent = sent_now + rng.randint(300, 1100)
                    kill_by = time.monotonic() + rng.uniform(5.0, 15.0)
                if kills == KILLS and inspect.jobs(engine, row.id)[0].status == JobStatus.COMPLETED:
                    break
                time.sleep(0.25)
        finally:
            for process in workers:
                process.kill()
                process.wait(timeout=10)

        [job, *_] = inspect.jobs(engine, row.id)
        assert kills == KILLS
        assert job.status == JobStatus.COMPLETED, (job.status, job.last_error)
        received = [r.recipient for r in provider_server.accepted()]
        expected = addresses(people(count))
        duplicates = len(received) - len(set(received))
        assert duplicates == 0 and set(received) == expected, (duplicates, len(expected - set(received)))
        assert job.result["sent"] == count and job.result["failed"] == 0
        assert inspect.instance(engine, row.id).status == InstanceStatus.RUNNING  # on to waiting for answers

        # the progress shown while it ran: never more sent than the provider had taken, never going back
        sent = [counts["sent"] for counts, _ in samples]
        assert all(counts["sent"] <= taken for counts, taken in samples)
        assert sent == sorted(sent) and sent[-1] == count
        assert all(sum(counts[k] for k in ("sent", "sending", "failed", "unknown")) <= count for counts, _ in samples)
        lookups = provider_server.lookups
        handed_on = sum(e.type == "job_lease_expired" for e in inspect.history(engine, row.id))
        assert handed_on >= 5  # the campaign was taken from a killed sender and finished by another, many times
        assert lookups > 0  # messages a killed sender had handed over were looked up, not sent again
        print(f"{count} recipients, {kills} kills, {handed_on} hand-overs, {lookups} provider lookups, "
              f"{sum(r.accepted for r in provider_server.received())} messages taken")
