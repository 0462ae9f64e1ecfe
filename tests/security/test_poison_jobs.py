"""A job whose worker dies on every attempt becomes an incident instead of killing workers forever.

Finding 1 (poison job): a script that segfaulted a Celery worker left its job RUNNING; when the lease
expired the relay released it to the next worker, which died too, with no attempt cap.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.models import InstanceStatus, JobStatus
from orchestrator.settings import RetryPolicy
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect

MAX_ATTEMPTS = 3


@pytest.fixture
def engine(make_engine, sqlite_database):
    built = make_engine(sqlite_database, topic_retry={"test.refund": RetryPolicy(max_attempts=MAX_ATTEMPTS)})
    deploy_fixture(built, "refund_claim.bpmn", "routing.dmn")
    return built


def lease(engine) -> timedelta:
    return timedelta(seconds=engine.settings.retry_policy("test.refund").timeout + engine.settings.job_lease_seconds)


def die_holding(engine, clock, job_id: int, worker: str) -> None:
    """A worker claims the job and is never heard of again; the clock passes its lease."""
    assert engine.jobs.claim_job(job_id, worker) is not None
    clock.advance(seconds=lease(engine).total_seconds() + 1)


def test_a_job_whose_lease_keeps_expiring_becomes_an_incident(engine, clock):
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 10, "customer": "c"})
    [job] = inspect.jobs(engine, row.id)

    for attempt in range(1, MAX_ATTEMPTS):
        die_holding(engine, clock, job.id, f"worker-{attempt}")
        assert engine.relay.relay_jobs() == [job.id]  # released and handed to the next worker
        released = inspect.jobs(engine, row.id)[0]
        assert (released.status, released.attempts) == (JobStatus.PENDING, attempt)

    die_holding(engine, clock, job.id, "last-worker")
    assert engine.relay.relay_jobs() == []  # not handed to another worker
    parked = inspect.jobs(engine, row.id)[0]
    assert (parked.status, parked.attempts, parked.locked_until) == (JobStatus.INCIDENT, MAX_ATTEMPTS, None)
    assert engine.jobs.claim_job(job.id, "next-worker") is None
    [incident] = engine.queries.open_incidents(ADMIN, instance_id=row.id)
    assert incident.job_id == job.id and incident.element_id == "refund"
    assert f"worker lost on each of {MAX_ATTEMPTS} attempts" in incident.message
    types = [event.type for event in inspect.history(engine, row.id)]
    assert types.count("job_lease_expired") == MAX_ATTEMPTS and types[-1] == "incident_opened"
    assert inspect.instance(engine, row.id).status == InstanceStatus.RUNNING

    clock.advance(hours=1)
    assert engine.relay.relay_jobs() == []  # stays parked on later sweeps


def test_a_late_result_from_the_last_worker_is_dropped_once_the_job_is_an_incident(engine, clock):
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 10, "customer": "c"})
    [job] = inspect.jobs(engine, row.id)
    for attempt in range(1, MAX_ATTEMPTS):
        die_holding(engine, clock, job.id, f"worker-{attempt}")
        engine.relay.relay_jobs()
    claimed = engine.jobs.claim_job(job.id, "slow-worker")
    clock.advance(seconds=lease(engine).total_seconds() + 1)
    engine.relay.relay_jobs()
    assert engine.jobs.complete_job(job.id, token=claimed.token, result={}) == "dropped"
    assert inspect.jobs(engine, row.id)[0].status == JobStatus.INCIDENT


def test_retrying_the_incident_gives_the_job_a_fresh_set_of_attempts(engine, clock):
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 10, "customer": "c"})
    [job] = inspect.jobs(engine, row.id)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        die_holding(engine, clock, job.id, f"worker-{attempt}")
        engine.relay.relay_jobs()
    [incident] = engine.queries.open_incidents(ADMIN, instance_id=row.id)

    engine.jobs.retry_incident(incident.id, actor=ADMIN)  # e.g. after the model or the connector was fixed
    assert inspect.run_pending_jobs(engine, row.id) == ["completed"]
    done = inspect.jobs(engine, row.id)[0]
    assert (done.status, done.attempts) == (JobStatus.COMPLETED, 1)
    assert engine.queries.open_incidents(ADMIN, instance_id=row.id) == []


def test_a_transient_failure_and_a_lost_worker_share_one_attempt_budget(engine, clock, ledger):
    ledger.script("test.refund", "transient")
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 10, "customer": "c"})
    [job] = inspect.jobs(engine, row.id)
    assert engine.jobs.run_job(job.id, "worker-1") == "retry"
    clock.advance(hours=1)  # past the backoff
    for attempt in range(2, MAX_ATTEMPTS + 1):
        die_holding(engine, clock, job.id, f"worker-{attempt}")
        engine.relay.relay_jobs()
    parked = inspect.jobs(engine, row.id)[0]
    assert (parked.status, parked.attempts) == (JobStatus.INCIDENT, MAX_ATTEMPTS)
