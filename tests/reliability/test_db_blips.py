"""Database connections cut during load: no 500, each command happened once or answered 503 having changed
nothing, and a retry with the same Idempotency-Key hears the first answer.

PostgreSQL only: another thread really terminates the app's server connections (pg_terminate_backend, picked
out by an application name of the test's own) while several clients start returns and complete their tasks.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from orchestrator.db import Database, with_search_path
from orchestrator.models import IdempotencyRecord
from tests.conftest import TEST_SCHEMA, deploy_fixture, postgres_url, reset_postgres
from tests.reliability.test_lost_connections import terminate_engine_connections
from tests.support import inspect
from tests.web.conftest import ApiClient
from web.app import create_app
from web.auth.apikeys import create_api_key
from web.auth.users import ensure_roles_and_groups
from web.extensions import db

APPLICATION = "loopline-lost-connections"  # the name terminate_engine_connections cuts
CLIENTS, RETURNS_EACH = 4, 6
VALUES = {"variables": {"orderNumber": "SO-1", "quantity": 1, "reason": "defect"}}


@pytest.fixture
def shop_app(make_engine):
    url = postgres_url()
    reset_postgres(url).dispose()
    database = Database(f"{with_search_path(url, TEST_SCHEMA)}&application_name={APPLICATION}")
    engine = make_engine(database)
    deploy_fixture(engine, "web_return.bpmn")
    app = create_app(engine.settings, engine)
    app.config["TESTING"] = True
    with app.app_context():
        ensure_roles_and_groups(app.extensions["security"].datastore, groups=("shop",))
        token = create_api_key(db.session, "shop", "integration", created_by="test", now=engine.now(),
                               groups=["shop"]).token
        db.session.commit()
    yield app, engine, url, token
    database.dispose()


class Answers:
    """Every answer heard, and the 503s with what they left behind."""

    def __init__(self):
        self.statuses: list[int] = []
        self.unavailable: list[tuple[str, str]] = []  # (kind, key) of 503 answers
        self.lock = threading.Lock()

    def heard(self, answer, kind: str, key: str) -> None:
        with self.lock:
            self.statuses.append(answer.status_code)
            if answer.status_code == 503:
                assert answer.mimetype == "application/problem+json" and answer.headers["Retry-After"]
                self.unavailable.append((kind, key))


def _until_answered(client: ApiClient, answers: Answers, kind: str, path: str, key: str, **kwargs):
    """Send the command, then again with its key while it hears 503 (as a client following Retry-After)."""
    for _ in range(50):
        answer = client.post(path, headers={"Idempotency-Key": key}, **kwargs)
        answers.heard(answer, kind, key)
        if answer.status_code != 503:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"{kind} {key} never got through")


def _open_task(client: ApiClient, business_key: str) -> str:
    for _ in range(200):  # connections are cut every 30 ms: a read may need many tries, reads are not the subject
        try:
            answer = client.get(f"/api/v1/tasks?businessKey={business_key}")
        except Exception:  # noqa: BLE001 - a read whose teardown met a cut connection
            time.sleep(0.05)
            continue
        if answer.status_code != 503:
            return answer.get_json()["items"][0]["id"]
        time.sleep(0.05)
    raise AssertionError(f"the task of {business_key} could not be read")


def test_cut_connections_give_503_or_one_command_never_500(shop_app):
    app, engine, url, token = shop_app
    answers, done, cuts = Answers(), threading.Event(), []
    outcomes: dict[str, tuple] = {}

    def cutter():
        while not done.is_set():
            cuts.append(terminate_engine_connections(url))
            time.sleep(0.03)

    def client_run(number: int):
        client = ApiClient(app.test_client(), token)
        for index in range(RETURNS_EACH):
            business_key = f"BLIP-{number}-{index}"
            started = _until_answered(client, answers, "start", "/api/v1/process-definitions/shop_return/start",
                                      f"start-{business_key}", json={"businessKey": business_key})
            assert started.status_code == 201, started.get_json()
            instance_id = started.get_json()["id"]
            task_id = _open_task(client, business_key)
            completed = _until_answered(client, answers, "complete", f"/api/v1/tasks/{task_id}/complete",
                                        f"complete-{business_key}", json=VALUES)
            assert completed.status_code == 200, completed.get_json()
            replay = _until_answered(client, answers, "replay", f"/api/v1/tasks/{task_id}/complete",
                                     f"complete-{business_key}", json=VALUES)
            outcomes[business_key] = (instance_id, started.get_json(), completed.get_json(), replay)

    threading.Thread(target=cutter, daemon=True).start()
    clients = [threading.Thread(target=client_run, args=(n,)) for n in range(CLIENTS)]
    try:
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(240)
    finally:
        done.set()
    time.sleep(0.2)

    assert len(outcomes) == CLIENTS * RETURNS_EACH
    assert 500 not in answers.statuses and all(status < 500 or status == 503 for status in answers.statuses)
    assert sum(cuts) > 0
    for business_key, (instance_id, _started, completed, replay) in outcomes.items():
        history = [event.type for event in inspect.history(engine, instance_id)]
        assert history.count("instance_started") == 1 and history.count("task_completed") == 1, business_key
        assert (replay.status_code, replay.get_json()) == (200, completed)  # the first answer, again
        assert replay.headers["Idempotent-Replayed"] == "true"
    with engine.db.reading() as session:
        starts = session.scalars(select(IdempotencyRecord.key).where(IdempotencyRecord.key.like("start-%"))).all()
    assert len(starts) == len(set(starts)) == CLIENTS * RETURNS_EACH
    print(f"\n{len(answers.statuses)} commands sent, {len(answers.unavailable)} answered 503, "
          f"{answers.statuses.count(500)} answered 500, {sum(cuts)} connections cut")
