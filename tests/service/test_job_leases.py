"""A claim lasts as long as its connector may run, and is renewed while it runs: a slow job is never handed
to a second worker while the first still works on it, and a worker that lost its claim is told so."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from integrations.registry import JobContext
from orchestrator.models import JobStatus
from orchestrator.settings import RetryPolicy
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect
from tests.support.connectors import LedgerConnector
from tests.support.waiting import wait_for

CLAIM = {"amount": 100, "customer": "ACME"}


class HeldConnector(LedgerConnector):
    """Applies its side effect, then runs until the test lets it finish (or its claim is lost)."""

    def __init__(self, ledger, timeout: float):
        super().__init__("test.refund", ledger)
        self.timeout = timeout
        self.running, self.finish = threading.Event(), threading.Event()
        self.context: JobContext | None = None

    def run(self, variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
        self.context = context
        result = super().run(variables, context)
        self.running.set()
        while not (self.finish.wait(0.02) or context.claim_lost.is_set()):
            pass
        return result


def test_a_claim_lasts_at_least_the_connectors_own_timeout(engine, ledger, clock):
    engine.connectors.register(HeldConnector(ledger, timeout=900))  # e.g. a campaign
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="LONG", variables=CLAIM)
    [job] = inspect.jobs(engine, row.id)
    assert engine.jobs.claim_job(job.id, "worker-1") is not None
    [job] = inspect.jobs(engine, row.id)
    assert job.locked_until == clock.now() + timedelta(
        seconds=900 + engine.settings.job_lease_seconds)


def running_job(make_engine, database, ledger):
    """An engine whose refund job runs on a thread, held by its connector, with a lease of 0.6 s."""
    engine = make_engine(database, job_lease_seconds=0.3,
                         topic_retry={"test.refund": RetryPolicy(timeout=0.3, max_attempts=3)})
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    connector = engine.connectors.register(HeldConnector(ledger, timeout=0.3))
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="HB", variables=CLAIM)
    [job] = inspect.jobs(engine, row.id)
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(engine.jobs.run_job(job.id, "worker-1")))
    worker.start()
    assert connector.running.wait(10)
    return engine, connector, job, worker, outcome


def test_a_running_job_keeps_its_claim_past_the_first_lease(make_engine, database, ledger, clock):
    engine, connector, job, worker, outcome = running_job(make_engine, database, ledger)
    first_lease = inspect.jobs(engine, job.instance_id)[0].locked_until
    clock.advance(seconds=5)  # far past the first lease
    wait_for(lambda: inspect.jobs(engine, job.instance_id)[0].locked_until > first_lease, timeout=10,
             what="the heartbeat to renew the lease")
    engine.relay.relay_jobs()  # a sweep now finds the lease alive: the job stays with its worker
    assert inspect.jobs(engine, job.instance_id)[0].status == JobStatus.RUNNING
    connector.finish.set()
    worker.join(10)
    [job] = inspect.jobs(engine, job.instance_id)
    assert outcome == ["completed"] and (job.status, job.attempts) == (JobStatus.COMPLETED, 1)
    assert len(ledger.calls("test.refund")) == 1


def test_a_worker_whose_claim_was_released_is_told_to_stop(make_engine, database, ledger, clock):
    engine, connector, job, worker, outcome = running_job(make_engine, database, ledger)
    clock.advance(seconds=5)
    engine.relay.relay_jobs()  # before the next beat: the lease ran out, the job is pending again
    assert inspect.jobs(engine, job.instance_id)[0].status == JobStatus.PENDING
    assert connector.context.claim_lost.wait(10)  # the next beat finds the claim gone and says so
    worker.join(10)
    assert outcome == ["dropped"]  # its late result is not applied over the next worker's
