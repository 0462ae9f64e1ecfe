"""The Celery app: JSON only, late acks, one job at a time per worker process."""

from __future__ import annotations

from celery import Celery

from orchestrator.settings import Settings


def create_celery(settings: Settings) -> Celery:
    """Build the Celery app for a broker URL; tasks are registered by tasks.jobs.register_tasks.

    Celery lets the CELERY_BROKER_URL variable win over any configured URL; Loopline's settings read
    that same variable, so the two agree.
    """
    app = Celery("loopline", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # publishing must fail fast when the broker is down: the job row is safe and the relay resends it
        task_publish_retry=False,
        broker_transport_options={"visibility_timeout": 3600, "socket_timeout": 5, "socket_connect_timeout": 5},
        beat_schedule={
            "loopline-sweep": {"task": "loopline.sweep", "schedule": settings.timer_sweep_interval},
        },
    )
    return app
