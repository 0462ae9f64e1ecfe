"""A lost database connection after a job was claimed loses neither the job nor its result.

PostgreSQL only: the connector really terminates the engine's connections on the server (pg_terminate_backend,
picked out by an application name of the test's own), as a database restart or failover would.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import pytest

import orchestrator.db
from integrations.registry import JobContext
from orchestrator.db import Database, with_search_path
from orchestrator.models import JobStatus
from tests.conftest import ADMIN, TEST_SCHEMA, deploy_fixture, postgres_url, reset_postgres
from tests.support import inspect
from tests.support.connectors import LedgerConnector

APPLICATION = "loopline-lost-connections"


def terminate_engine_connections(url: str) -> int:
    """Cut every server connection of the engine under test; how many were cut."""
    conninfo = url.replace("postgresql+psycopg://", "postgresql://").split("?")[0]
    with psycopg.connect(conninfo, autocommit=True) as admin:
        return len(admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                                 (APPLICATION,)).fetchall())


class CuttingConnector(LedgerConnector):
    """Applies its side effect, then the database connections drop before the result is reported."""

    def __init__(self, ledger, url: str):
        super().__init__("test.refund", ledger)
        self.url = url
        self.cut: list[int] = []

    def run(self, variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
        result = super().run(variables, context)
        self.cut.append(terminate_engine_connections(self.url))
        return result


@pytest.fixture
def postgres_engine(make_engine):
    url = postgres_url()
    reset_postgres(url).dispose()
    db = Database(f"{with_search_path(url, TEST_SCHEMA)}&application_name={APPLICATION}")
    engine = make_engine(db)
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    yield engine, url
    db.dispose()


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_result_that_arrived_is_reported_once_the_database_answers_again(postgres_engine, ledger, monkeypatch):
    engine, url = postgres_engine
    # no ping before use: the connections drop between two commands, which no idle check can see coming
    monkeypatch.setattr(orchestrator.db, "PING_AFTER_IDLE_SECONDS", 3600)
    # nor the look at the socket on checkout: as if the cut came after it, just before the statement
    monkeypatch.setattr(orchestrator.db, "_server_spoke", lambda _connection: False)
    # heard on the logger itself, enabled and at WARNING: a worker's logging set-up in another test may have
    # disabled it, raised the level or changed how records propagate
    warnings, log = Warnings(), logging.getLogger("orchestrator.jobs")
    old_level = log.level
    log.addHandler(warnings)
    log.setLevel(logging.WARNING)
    monkeypatch.setattr(log, "disabled", False)
    connector = engine.connectors.register(CuttingConnector(ledger, url))
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="CUT-1",
                                          variables={"amount": 100, "customer": "ACME"})
    [job] = inspect.jobs(engine, row.id)

    try:
        assert engine.jobs.run_job(job.id, "worker-1") == "completed"
    finally:
        log.removeHandler(warnings)
        log.setLevel(old_level)

    assert connector.cut and connector.cut[0] >= 1  # the report really met dead connections …
    assert any("the database did not answer" in m for m in warnings.messages)  # … and was made again
    [job] = inspect.jobs(engine, row.id)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 1)  # not left RUNNING until its lease
    assert len(ledger.effects("test.refund")) == 1 and len(ledger.calls("test.refund")) == 1
    assert "refund" in inspect.completed_elements(engine, row.id)
