"""Scripts that crashed or froze the serving process now fail in a sandbox process and nothing else.

Finding 1 (a 200,000-deep tuple hashed → SIGSEGV of `loopline serve`; a ten-fold nesting killed
Celery workers one after another) and finding 2 (`all(map(max, L))` ran 50 s under a 1 s limit,
`list(map(list, L))` took 1.7 GB under a 256 MB cap), reproduced in the pool, in a real Celery
worker and against `loopline serve`.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import pytest
from celery.contrib.testing.worker import start_worker
from click.testing import CliRunner
from sqlalchemy import func, select

from orchestrator.definitions import ModelFile
from orchestrator.errors import ProcessError
from orchestrator.expressions import ScriptError
from orchestrator.expressions.script_pool import ScriptPool
from orchestrator.models import InstanceStatus, ProcessInstance
from orchestrator.service import Engine
from orchestrator.settings import Settings
from tasks.celery_app import create_celery
from tasks.jobs import celery_waker, register_tasks
from tests.conftest import ADMIN, reset_postgres, sqlite_copy
from tests.reliability.test_crashes import process_env
from tests.security import hostile_models as models
from tests.service.test_celery_worker import broker_for
from tests.support import inspect
from tests.support.processes import free_port, own_redis, start_loopline, stop_process
from tests.support.waiting import wait_for
from web.cli import main as loopline_cli

LIMIT = 1.0


@pytest.fixture(scope="module")
def pool():
    pool = ScriptPool(size=1, memory_limit_mb=256)
    yield pool
    pool.close()


@pytest.mark.parametrize("name", sorted(models.HOSTILE_SCRIPTS))
def test_hostile_script_fails_within_twice_the_limit_and_the_pool_carries_on(pool, name):
    source, reasons = models.HOSTILE_SCRIPTS[name]
    started = time.monotonic()
    with pytest.raises(ScriptError) as failure:
        pool.run(source, {}, LIMIT)
    assert time.monotonic() - started < 2 * LIMIT
    assert any(reason in failure.value.message for reason in reasons)
    assert pool.run("y = x * 2", {"x": 21}, LIMIT) == {"x": 21, "y": 42}


def test_script_sees_only_json_data_and_writes_back_through_the_sandbox(make_engine, sqlite_database):
    engine = make_engine(sqlite_database)
    script = "total = sum(item['price'] for item in items)\ndel scratch"
    engine.deployments.deploy([ModelFile("sum.bpmn", models.script_at_start("summing", script))], actor=ADMIN)
    started = engine.instances.start_instance("summing", actor=ADMIN,
                                    variables={"items": [{"price": 2}, {"price": 3}], "scratch": 1})
    assert started.status == InstanceStatus.COMPLETED
    variables = inspect.instance(engine, started.id).variables
    assert variables["total"] == 5 and "scratch" not in variables


def test_start_with_a_crashing_script_is_refused_naming_the_element(make_engine, sqlite_database):
    engine = make_engine(sqlite_database)
    engine.deployments.deploy([ModelFile("crash.bpmn", models.script_at_start("crash_now", models.SEGFAULT))], actor=ADMIN)
    with pytest.raises(ProcessError) as refused:
        engine.instances.start_instance("crash_now", actor=ADMIN, business_key="A-1")
    assert "element 's1'" in refused.value.message and "SIGSEGV" in refused.value.message
    with engine.db.transaction() as session:  # nothing was stored
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0


@pytest.mark.parametrize("name", ["tenfold-segfault", "builtin-loop", "memory-blowup"])
def test_hostile_script_after_a_job_becomes_an_incident_and_the_worker_carries_on(
        make_engine, database, backend, name):
    source, reasons = models.HOSTILE_SCRIPTS[name]
    engine = make_engine(database, broker_url=broker_for(backend))
    engine.deployments.deploy([ModelFile("hostile.bpmn", models.script_after_job("hostile", "test.stock", source)),
                   ModelFile("good.bpmn", models.job_only("good", "test.stock"))], actor=ADMIN)
    app = create_celery(engine.settings)
    register_tasks(app, lambda: engine)
    engine.wake = celery_waker(app)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        hostile = engine.instances.start_instance("hostile", actor=ADMIN, business_key=f"H-{name}")
        [incident] = wait_for(lambda: engine.queries.open_incidents(ADMIN, instance_id=hostile.id), what="the incident of the hostile script")
        assert "element 's2'" in incident.message
        assert any(reason in incident.message for reason in reasons)
        assert inspect.instance(engine, hostile.id).status == InstanceStatus.RUNNING
        good = engine.instances.start_instance("good", actor=ADMIN, business_key=f"G-{name}")
        wait_for(lambda: inspect.instance(engine, good.id).status == InstanceStatus.COMPLETED,
                 what="a later job on the same worker")


def test_a_crashing_script_behind_a_timer_opens_one_incident_and_waits_for_a_retry(
        make_engine, sqlite_database, clock):
    engine = make_engine(sqlite_database)
    engine.deployments.deploy([ModelFile("later.bpmn", models.script_after_timer("later", "PT3S", models.SEGFAULT))], actor=ADMIN)
    started = engine.instances.start_instance("later", actor=ADMIN, business_key="L-1")
    clock.advance(seconds=4)
    assert engine.timers.fire_due_timers() == []
    [incident] = engine.queries.open_incidents(ADMIN, instance_id=started.id)
    assert incident.element_id == "s2" and "SIGSEGV" in incident.message
    assert inspect.instance(engine, started.id).next_timer_at is None  # the sweep no longer fires it
    clock.advance(minutes=5)
    assert engine.timers.fire_due_timers() == [] and len(engine.queries.open_incidents(ADMIN, instance_id=started.id)) == 1

    engine.jobs.retry_incident(incident.id, actor=ADMIN)  # the script still crashes: one new incident, no loop
    assert engine.timers.fire_due_timers() == []
    [again] = engine.queries.open_incidents(ADMIN, instance_id=started.id)
    assert again.id != incident.id
    types = [event.type for event in inspect.history(engine, started.id)]
    assert types.count("incident_opened") == 2 and "incident_retried" in types


def _http(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _wait_until_serving(process, port: int, log) -> None:
    def healthy():
        assert process.poll() is None, f"loopline serve exited {process.returncode}:\n{log.read_text()}"
        try:
            return _http("GET", f"http://127.0.0.1:{port}/healthz")[0] == 200
        except (urllib.error.URLError, ConnectionError):
            return False
    wait_for(healthy, timeout=60, what="loopline serve to answer", interval=0.2)


def test_loopline_serve_survives_hostile_scripts_at_start_and_behind_a_timer(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "LOOPLINE_DATABASE_URL", "CELERY_BROKER_URL", "LOOPLINE_CONNECTORS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOOPLINE_HOME", str(tmp_path))
    bundle = tmp_path / "models"
    bundle.mkdir()
    (bundle / "now.bpmn").write_text(models.script_at_start("crash_now", models.SEGFAULT))
    (bundle / "later.bpmn").write_text(models.script_after_timer("crash_later", "PT1S", models.SEGFAULT))
    (bundle / "loop.bpmn").write_text(models.script_at_start("spin", models.BUILTIN_LOOP))
    runner = CliRunner()
    for args in (["db", "upgrade"], ["deploy", str(bundle)]):
        assert runner.invoke(loopline_cli, args, catch_exceptions=False).exit_code == 0
    created = runner.invoke(loopline_cli, ["apikey", "create", "attacker", "--role", "admin"])
    token = created.output.strip().splitlines()[-1]

    port, log = free_port(), tmp_path / "serve.log"
    process = start_loopline(["serve", "--port", str(port)], {
        "LOOPLINE_HOME": str(tmp_path), "DATABASE_URL": "", "CELERY_BROKER_URL": "",
        "LOOPLINE_DEPLOY_ON_START": "0", "LOOPLINE_TIMER_INTERVAL": "0.2"}, log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, port, log)
        for key, reason in (("crash_now", "SIGSEGV"), ("spin", "time limit")):
            started = time.monotonic()
            status, problem = _http("POST", f"{base}/api/v1/process-definitions/{key}/start", token,
                                    {"businessKey": key})
            assert status == 422 and "element 's1'" in problem["detail"] and reason in problem["detail"]
            assert time.monotonic() - started < 2 * LIMIT + 1  # + the HTTP round trip and the start itself
            assert _http("GET", f"{base}/healthz")[0] == 200

        status, later = _http("POST", f"{base}/api/v1/process-definitions/crash_later/start", token,
                              {"businessKey": "later"})
        assert status in (200, 201), later

        def timer_incident():
            incidents = _http("GET", f"{base}/api/v1/incidents", token)[1]["items"]
            return [incident for incident in incidents if incident["instanceId"] == later["id"]]
        [incident] = wait_for(timer_incident, timeout=30, what="the incident of the timer's script")
        assert incident["elementId"] == "s2" and "SIGSEGV" in incident["message"]
        assert process.poll() is None, log.read_text()
        assert _http("GET", f"{base}/healthz")[0] == 200
    finally:
        stop_process(process)


def test_a_loopline_worker_process_survives_a_crashing_script(tmp_path, ledger, monkeypatch, migrated_sqlite):
    """Production shape: `loopline worker` (prefork) on Redis; before, the job killed every worker in turn."""
    url = os.environ.get("DATABASE_URL", "")
    db = reset_postgres(url) if url.startswith("postgresql") else sqlite_copy(migrated_sqlite, tmp_path / "shared.db")
    with own_redis(tmp_path) as broker:
        env = process_env(db, broker.url, tmp_path)
        monkeypatch.setenv("CELERY_BROKER_URL", broker.url)
        settings = Settings.from_env(env)
        engine = Engine(settings, db=db)
        engine.wake = celery_waker(create_celery(settings))
        engine.deployments.deploy([ModelFile("hostile.bpmn", models.script_after_job("hostile", "test.stock", models.SEGFAULT)),
                       ModelFile("good.bpmn", models.job_only("good", "test.stock"))], actor=ADMIN)
        worker = start_loopline(["worker", "--pool", "prefork", "--concurrency", "1"], env, tmp_path / "w.log")
        try:
            hostile = engine.instances.start_instance("hostile", actor=ADMIN, business_key="H-1")
            [incident] = wait_for(lambda: engine.queries.open_incidents(ADMIN, instance_id=hostile.id), timeout=60, what="the incident")
            assert "element 's2'" in incident.message and "SIGSEGV" in incident.message
            good = engine.instances.start_instance("good", actor=ADMIN, business_key="G-1")
            wait_for(lambda: inspect.instance(engine, good.id).status == InstanceStatus.COMPLETED, timeout=60,
                     what="the next job on the same worker")
            assert worker.poll() is None
            assert "WorkerLostError" not in (tmp_path / "w.log").read_text()
        finally:
            worker.terminate()
            worker.wait(timeout=20)
            db.dispose()
