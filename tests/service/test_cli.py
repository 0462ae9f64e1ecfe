"""The `loopline` command against a fresh SQLite file: db upgrade, deploy, apikey, user; and `serve` as a process."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import create_engine, func, inspect, select, text

from orchestrator.migrate import alembic_config
from orchestrator.models import Deployment, DeploymentResource, ProcessDefinition
from orchestrator.settings import Settings
from tests.conftest import FIXTURES
from tests.support.processes import free_port, start_loopline, stop_process
from web.app import create_app
from web.auth.models import ApiKey, User
from web.cli import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    """LOOPLINE_HOME in a temporary folder and no other database or broker: the SQLite default there."""
    for name in ("DATABASE_URL", "LOOPLINE_DATABASE_URL", "CELERY_BROKER_URL", "LOOPLINE_CONNECTORS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOOPLINE_HOME", str(tmp_path))
    monkeypatch.setenv("LOOPLINE_ENV", "development")
    return tmp_path


@pytest.fixture
def loopline(home):
    """Run `loopline ARGS…` in-process; returns the click Result."""
    runner = CliRunner()

    def run(*args: str, expect: int = 0):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == expect, f"exit {result.exit_code}\n{result.output}"
        return result

    return run


def database(home):
    return create_engine(f"sqlite:///{home / 'loopline.db'}")


def rows(output: str) -> list[list[str]]:
    """Tab-separated lines of a listing command."""
    return [line.split("\t") for line in output.splitlines() if line]


def count(home, *tables) -> tuple[int, ...]:
    with database(home).connect() as connection:
        return tuple(connection.scalar(select(func.count()).select_from(t)) for t in tables)


def test_db_upgrade_creates_the_schema_at_head_and_is_repeatable(loopline, home):
    first = loopline("db", "upgrade")
    assert f"database at head: sqlite:///{home / 'loopline.db'}" in first.output
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    engine = database(home)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == head
    tables = set(inspect(engine).get_table_names())
    assert {"process_definition", "process_instance", "human_task", "job", "incident", "history_event",
            "api_key", "user"} <= tables
    loopline("db", "upgrade")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]


def test_deploy_twice_then_a_hostile_model(loopline, home, tmp_path, ledger, monkeypatch):
    monkeypatch.setenv("LOOPLINE_CONNECTORS", "tests.support.connectors")  # the refund model's test.refund topic
    models = [str(FIXTURES / "refund_claim.bpmn"), str(FIXTURES / "routing.dmn")]
    first = loopline("deploy", *models)
    assert "refund_claim v1 (new)" in first.output
    again = loopline("deploy", *models)
    assert "refund_claim v1 (unchanged)" in again.output
    assert count(home, Deployment, DeploymentResource, ProcessDefinition) == (1, 2, 1)

    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(FIXTURES / "web_return.bpmn", folder)
    assert "shop_return v1 (new)" in loopline("deploy", str(folder)).output
    stored = count(home, Deployment, DeploymentResource, ProcessDefinition)

    hostile = tmp_path / "hostile.bpmn"
    hostile.write_text((FIXTURES / "refund_claim.bpmn").read_text().replace(
        "${amount &gt; 5000}", "${__import__('os').system('id')}"))
    rejected = loopline("deploy", str(hostile), str(FIXTURES / "routing.dmn"), expect=2)
    assert "error:" in rejected.stderr and "f_big" in rejected.stderr
    entity = tmp_path / "entity.bpmn"
    entity.write_text((FIXTURES / "web_return.bpmn").read_text().replace(
        "<bpmn:definitions", "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><bpmn:definitions", 1))
    loopline("deploy", str(entity), expect=2)
    assert count(home, Deployment, DeploymentResource, ProcessDefinition) == stored  # nothing stored
    assert "refund_claim v1 (unchanged)" in loopline("deploy", *models).output


def bearer_status(token: str) -> int:
    """What the REST API answers to this token (an app on the same database, as `loopline serve` builds it)."""
    client = create_app(Settings.from_env()).test_client()
    return client.get("/api/v1/instances", headers={"Authorization": f"Bearer {token}"}).status_code


def test_apikey_create_list_revoke(loopline, home):
    created = loopline("apikey", "create", "web-shop", "--role", "integration", "--group", "shop")
    lines = created.output.strip().splitlines()
    assert lines[-2].startswith("API key 1 'web-shop' (integration)")
    token = lines[-1]
    assert token.startswith("ll_")
    with database(home).connect() as connection:
        stored = connection.execute(select(ApiKey.secret_hash, ApiKey.groups)).one()
    assert token.split("_", 2)[2] not in stored.secret_hash  # stored hashed only
    assert stored.groups == ["shop"]
    assert bearer_status(token) == 200

    expiring = loopline("apikey", "create", "carrier", "--role", "auditor", "--expires-in-days", "30")
    assert "API key 2 'carrier' (auditor)" in expiring.output
    loopline("apikey", "create", "web-shop", expect=1)  # names are unique
    loopline("apikey", "create", "bad-role", "--role", "superuser", expect=1)

    listed = rows(loopline("apikey", "list").output)
    assert listed[0] == ["1", "web-shop", "integration", "shop", "active"]
    assert listed[1][:3] == ["2", "carrier", "auditor"] and listed[1][4].startswith("expires 20")
    assert len(listed) == 2

    assert "API key 1 revoked" in loopline("apikey", "revoke", "1").output
    assert rows(loopline("apikey", "list").output)[0][4] == "revoked"
    assert bearer_status(token) == 401
    assert "does not exist" in loopline("apikey", "revoke", "99", expect=1).output


def test_user_create_add_group_list(loopline, home):
    created = loopline("user", "create", "ana@example.com", "--password", "correct-horse-9", "--group", "warehouse")
    assert "user ana@example.com created (staff; groups: warehouse)" in created.output
    loopline("user", "create", "olga@example.com", "--password", "correct-horse-9", "--role", "process_owner")
    assert "ana@example.com is now in qa" in loopline("user", "add-group", "ana@example.com", "qa").output

    listed = {row[0]: row[1:] for row in rows(loopline("user", "list").output)}
    assert set(listed) == {"ana@example.com", "olga@example.com"}
    assert listed["ana@example.com"][0] == "staff"
    assert set(listed["ana@example.com"][1].split(",")) == {"warehouse", "qa"}
    assert listed["olga@example.com"] == ["process_owner", ""]
    with database(home).connect() as connection:
        hashed = connection.scalar(select(User.password).where(User.email == "ana@example.com"))
    assert hashed.startswith("$argon2") and "correct-horse-9" not in hashed

    assert "already exists" in loopline("user", "create", "ana@example.com", "--password", "another-pass-1",
                                        expect=1).output
    assert "password" in loopline("user", "create", "bo@example.com", "--password", "short", expect=1).output
    assert "no_such_group" in loopline("user", "create", "cy@example.com", "--password", "correct-horse-9",
                                       "--group", "no_such_group", expect=1).output
    assert "no user nobody@example.com" in loopline("user", "add-group", "nobody@example.com", "qa",
                                                    expect=1).output
    emails = [row[0] for row in rows(loopline("user", "list").output)]
    assert emails == ["ana@example.com", "olga@example.com"]  # the failed creations left nothing behind


def test_serve_answers_healthz(home):
    port = free_port()
    log = home / "serve.log"
    process = start_loopline(["serve", "--port", str(port)],
                             {"LOOPLINE_HOME": str(home), "DATABASE_URL": "", "CELERY_BROKER_URL": ""}, log)
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status != 200:
            assert process.poll() is None, f"loopline serve exited {process.returncode}:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    status, body = response.status, json.loads(response.read())
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert status == 200, f"no answer on /healthz within 30 s:\n{log.read_text()}"
        assert body == {"status": "ok"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            assert json.loads(response.read())["checks"]["database"] == "ok"
        assert (home / "loopline.db").exists()  # the embedded default: SQLite in LOOPLINE_HOME
    finally:
        stop_process(process)
