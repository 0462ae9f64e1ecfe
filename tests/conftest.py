"""Shared fixtures: real databases (SQLite always, PostgreSQL when DATABASE_URL is set), a manual clock."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import MetaData, text

from integrations.config import IntegrationSettings
from orchestrator.actors import Actor
from orchestrator.clock import ManualClock
from orchestrator.db import Database, recreate_schema, with_search_path
from orchestrator.definitions import ModelFile
from orchestrator.service import Engine
from orchestrator.settings import Settings
from tests.integrations.loopback import ProviderServer
from tests.support.connectors import Ledger, register

FIXTURES = Path(__file__).parent / "fixtures"
IN_CI = os.environ.get("CI", "").lower() == "true"
ADMIN = Actor("admin", roles=frozenset({"admin"}))


def require_service(name: str, available: bool, why: str) -> None:
    """Skip on a laptop without the service; fail under CI=true, where every service must be there."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{name} is required under CI=true: {why}")
    pytest.skip(f"{name} not available: {why}")


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    require_service("PostgreSQL", url.startswith("postgresql"), "set DATABASE_URL=postgresql+psycopg://…")
    return url


TEST_SCHEMA = "loopline_test"


# The schema is migrated once per test session and backend; each test then starts from it emptied (PostgreSQL)
# or copied (SQLite), which is what a fresh migration gives, in milliseconds instead of seconds.
_migrated_postgres: set[str] = set()


def reset_postgres(url: str) -> Database:
    """A fresh, migrated schema of its own in the given database; `public` is never touched."""
    db = Database(with_search_path(url, TEST_SCHEMA))
    if url in _migrated_postgres:
        _empty(db)
        return db
    try:
        recreate_schema(url, TEST_SCHEMA)
    except Exception as exc:  # noqa: BLE001 - reported as a missing service
        require_service("PostgreSQL", False, f"cannot prepare schema {TEST_SCHEMA} in {url}: {exc}")
    db.create_schema()
    _migrated_postgres.add(url)
    return db


def _empty(db: Database) -> None:
    """Every row deleted and every sequence restarted: the migrated schema as a fresh migration leaves it."""
    tables = MetaData()
    tables.reflect(db.engine)
    with db.engine.begin() as connection:
        for table in reversed(tables.sorted_tables):
            if table.name != "alembic_version":
                connection.execute(table.delete())
        sequences = connection.execute(text("SELECT sequence_name FROM information_schema.sequences "
                                            "WHERE sequence_schema = current_schema()")).scalars().all()
        for sequence in sequences:
            connection.exec_driver_sql(f'ALTER SEQUENCE "{sequence}" RESTART')


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite file migrated once for the session; tests work on copies of it (`sqlite_copy`)."""
    template = tmp_path_factory.mktemp("schema") / "migrated.db"
    migrated = Database(f"sqlite:///{template}")
    migrated.create_schema()
    migrated.dispose()
    return template


def sqlite_copy(template: Path, path: Path) -> Database:
    """A migrated SQLite database at `path`, copied from the session's template."""
    shutil.copyfile(template, path)
    path.chmod(0o600)  # as the product creates its database file
    return Database(f"sqlite:///{path}")


@pytest.fixture
def provider_server():
    """A loopback server standing in for Twilio and SendGrid (the real SDKs talk to it)."""
    server = ProviderServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def database(backend, tmp_path, migrated_sqlite) -> Database:
    """A fresh, empty database of the requested backend."""
    if backend == "sqlite":
        db = sqlite_copy(migrated_sqlite, tmp_path / "loopline.db")
    else:
        db = reset_postgres(postgres_url())
    yield db
    db.dispose()


@pytest.fixture
def sqlite_database(tmp_path, migrated_sqlite) -> Database:
    db = sqlite_copy(migrated_sqlite, tmp_path / "loopline.db")
    yield db
    db.dispose()


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> Ledger:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("LOOPLINE_TEST_LEDGER", str(path))
    return Ledger(str(path))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_engine(ledger, clock, tmp_path) -> Callable[..., Engine]:
    """Build an Engine on a given database with test connectors and the manual clock."""

    def build(database: Database, **overrides) -> Engine:
        overrides.setdefault("database_url", database.url)
        overrides.setdefault("home", tmp_path)
        overrides.setdefault("environment", "test")
        overrides.setdefault("connector_modules", ("tests.support.connectors",))
        engine_clock = overrides.pop("clock", clock)
        integration_settings = overrides.pop("integration_settings", IntegrationSettings())
        settings = Settings.from_env({}, **overrides)
        return Engine(settings, db=database, clock=engine_clock, integration_settings=integration_settings)

    return build


@pytest.fixture
def engine(make_engine, database) -> Engine:
    """An engine on the parametrized backend with the refund fixture deployed."""
    built = make_engine(database)
    deploy_fixture(built, "refund_claim.bpmn", "routing.dmn")
    return built


def deploy_fixture(engine: Engine, *names: str):
    files = [ModelFile(name, (FIXTURES / name).read_text(encoding="utf-8")) for name in names]
    return engine.deployments.deploy(files, actor=ADMIN)


__all__ = ["ADMIN", "FIXTURES", "IN_CI", "deploy_fixture", "register", "require_service"]
