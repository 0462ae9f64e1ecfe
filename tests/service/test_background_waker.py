"""Waking workers never holds up a command: a slow or failing broker only delays jobs until the relay."""

from __future__ import annotations

import threading

from orchestrator.models import JobStatus
from tasks.publisher import BackgroundWaker
from tests.conftest import ADMIN
from tests.support import inspect

CLAIM = {"amount": 10, "customer": "c"}


def test_a_command_returns_while_the_broker_does_not_answer(engine):
    answer, published = threading.Event(), []

    def publish(job_id: int) -> None:
        answer.wait(30)  # a broker that hangs
        published.append(job_id)

    engine.wake = waker = BackgroundWaker(publish)
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="SLOW", variables=CLAIM)
    [job] = inspect.jobs(engine, row.id)
    assert job.status == JobStatus.PENDING and published == []  # committed; the publish still hangs
    answer.set()
    assert waker.idle() and published == [job.id]


def test_after_a_failed_publish_wake_ups_are_left_to_the_relay_for_a_pause(engine, clock):
    attempts: list[int] = []

    def publish(job_id: int) -> None:
        attempts.append(job_id)
        raise ConnectionError("broker is down")

    engine.wake = waker = BackgroundWaker(publish, pause_after_failure=60)
    first = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="DOWN-1", variables=CLAIM)
    assert waker.idle() and waker.paused
    second = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="DOWN-2", variables=CLAIM)
    assert waker.idle()
    [first_job], [second_job] = inspect.jobs(engine, first.id), inspect.jobs(engine, second.id)
    assert attempts == [first_job.id]  # the second wake-up was dropped at once, not queued behind a dead broker
    assert second_job.status == JobStatus.PENDING

    woken: list[int] = []  # the broker is back: the relay enqueues what was dropped once it is stale
    engine.wake = woken.extend
    clock.advance(seconds=engine.settings.relay_stale_after + 1)
    assert set(engine.relay.relay_jobs()) == {first_job.id, second_job.id}
    assert set(woken) == {first_job.id, second_job.id}


def test_publishing_resumes_after_the_pause():
    calls: list[int] = []
    failing = [True]

    def publish(job_id: int) -> None:
        calls.append(job_id)
        if failing[0]:
            raise ConnectionError("broker is down")

    waker = BackgroundWaker(publish, pause_after_failure=0.05)
    waker([1, 2])
    assert waker.idle() and calls == [1]  # the rest of the batch is dropped with the first failure
    failing[0] = False
    threading.Event().wait(0.1)
    waker([3])
    assert waker.idle() and calls == [1, 3]
    waker.stop()
