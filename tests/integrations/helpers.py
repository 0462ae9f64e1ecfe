"""Read-side helpers for the notify tests: what the notification tables say."""

from __future__ import annotations

from sqlalchemy import select

from integrations.notify.models import DeliveryEvent, Notification
from integrations.registry import JobContext
from orchestrator.service import Engine
from tests.conftest import ADMIN
from tests.support import inspect
from tests.support.inspect import jobs


def notifications(engine: Engine, **where) -> list[Notification]:
    with engine.db.reading() as session:
        query = select(Notification).order_by(Notification.created_at, Notification.recipient_id)
        for column, value in where.items():
            query = query.where(getattr(Notification, column) == value)
        return list(session.scalars(query))


def delivery_events(engine: Engine) -> list[DeliveryEvent]:
    with engine.db.reading() as session:
        return list(session.scalars(select(DeliveryEvent).order_by(DeliveryEvent.id)))


def start(engine: Engine, process: str, business_key: str, **variables):
    return engine.instances.start_instance(process, actor=ADMIN, business_key=business_key, variables=variables)


def job_context(engine: Engine, instance_id: str, element_id: str) -> JobContext:
    """The context a worker would hand the connector for the instance's job at `element_id`."""
    job = next(j for j in jobs(engine, instance_id) if j.element_id == element_id)
    instance = inspect.instance(engine, instance_id)
    return JobContext(job.id, instance_id, instance.business_key, job.element_id, job.topic, job.attempts + 1,
                      job.idempotency_key)
