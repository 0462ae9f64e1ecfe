"""Idempotency-Key on API commands: a retry hears the first answer, a reused key for another request 422,
a retry while the first runs 409; keys belong to the caller and the route and expire after 24 hours."""

from __future__ import annotations

import io
import threading
import time

import pytest
from sqlalchemy import update

from orchestrator.instance_rows import lock_instance
from orchestrator.models import IdempotencyRecord
from tests.conftest import FIXTURES
from tests.support import inspect
from tests.web.conftest import ApiClient

VALUES = {"variables": {"orderNumber": "SO-1", "quantity": 2, "reason": "defect"}}


def _return(shop, business_key: str) -> tuple[str, str]:
    """Start a return; its instance id and its open task's id."""
    started = shop.post("/api/v1/process-definitions/shop_return/start", json={"businessKey": business_key})
    assert started.status_code == 201, started.get_json()
    tasks = shop.get(f"/api/v1/tasks?businessKey={business_key}&myGroups=true").get_json()
    return started.get_json()["id"], tasks["items"][0]["id"]


def _events(web_engine, instance_id: str, type_: str) -> int:
    return sum(event.type == type_ for event in inspect.history(web_engine, instance_id))


def test_a_retry_hears_the_first_answer_and_the_command_runs_once(as_, web_engine):
    shop = as_("shop")
    instance_id, task_id = _return(shop, "RMA-IK-1")
    key = {"Idempotency-Key": "complete-RMA-IK-1"}

    first = shop.post(f"/api/v1/tasks/{task_id}/complete", json=VALUES, headers=key)
    again = shop.post(f"/api/v1/tasks/{task_id}/complete", json=VALUES, headers=key)

    assert first.status_code == 200, first.get_json()
    assert (again.status_code, again.get_json()) == (200, first.get_json())  # not 409 "already completed"
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert _events(web_engine, instance_id, "task_completed") == 1


def test_the_same_key_for_another_request_is_refused_naming_the_header(as_, web_engine):
    shop = as_("shop")
    instance_id, task_id = _return(shop, "RMA-IK-2")
    key = {"Idempotency-Key": "complete-RMA-IK-2"}
    assert shop.post(f"/api/v1/tasks/{task_id}/complete", json=VALUES, headers=key).status_code == 200

    other = shop.post(f"/api/v1/tasks/{task_id}/complete", json={"variables": {**VALUES["variables"], "quantity": 3}},
                      headers=key)

    assert (other.status_code, other.mimetype) == (422, "application/problem+json")
    assert "Idempotency-Key" in other.get_json()["errors"]
    assert _events(web_engine, instance_id, "task_completed") == 1


def test_a_refused_command_records_nothing_so_the_corrected_request_runs(as_):
    shop = as_("shop")
    _, task_id = _return(shop, "RMA-IK-3")
    key = {"Idempotency-Key": "complete-RMA-IK-3"}

    bad = shop.post(f"/api/v1/tasks/{task_id}/complete", json={"variables": {"quantity": "two"}}, headers=key)
    good = shop.post(f"/api/v1/tasks/{task_id}/complete", json=VALUES, headers=key)

    assert (bad.status_code, good.status_code) == (422, 200)


def test_keys_belong_to_the_caller_and_the_route(as_, web_engine):
    admin, owner = as_("admin"), as_("owner")
    upload = {"files": [(io.BytesIO((FIXTURES / "message_start.bpmn").read_bytes()), "message_start.bpmn")]}
    key = {"Idempotency-Key": "deploy-1"}
    first = owner.post("/api/v1/deployments", data=upload, content_type="multipart/form-data", headers=key)
    upload = {"files": [(io.BytesIO((FIXTURES / "message_start.bpmn").read_bytes()), "message_start.bpmn")]}
    by_admin = admin.post("/api/v1/deployments", data=upload, content_type="multipart/form-data", headers=key)

    assert first.status_code == 201 and first.get_json()[0]["new"] is True
    assert by_admin.status_code == 201 and "Idempotent-Replayed" not in by_admin.headers  # ran: another caller
    assert by_admin.get_json()[0]["new"] is False

    shop = as_("shop")
    instance_id, _ = _return(shop, "RMA-IK-4")
    suspended = admin.post(f"/api/v1/instances/{instance_id}/suspend", headers={"Idempotency-Key": "k"})
    resumed = admin.post(f"/api/v1/instances/{instance_id}/resume", headers={"Idempotency-Key": "k"})
    assert (suspended.get_json()["status"], resumed.get_json()["status"]) == ("suspended", "running")


def test_an_answer_lost_after_the_commit_is_rebuilt_from_the_current_state(as_, web_engine):
    shop = as_("shop")
    _, task_id = _return(shop, "RMA-IK-5")
    key = {"Idempotency-Key": "claim-RMA-IK-5"}
    first = shop.post(f"/api/v1/tasks/{task_id}/claim", headers=key)
    with web_engine.db.transaction() as session:  # as if the connection broke between COMMIT and the answer
        session.execute(update(IdempotencyRecord).values(status=None, body=None))

    again = shop.post(f"/api/v1/tasks/{task_id}/claim", headers=key)

    assert first.status_code == 200 and first.get_json()["assignee"] == "apikey:shop"
    assert (again.status_code, again.get_json(), again.headers["Idempotent-Replayed"]) == (200, first.get_json(),
                                                                                           "true")


def test_a_key_expires_after_a_day(as_, web_engine, clock):
    admin = as_("admin")
    instance_id, _ = _return(as_("shop"), "RMA-IK-6")
    key = {"Idempotency-Key": "suspend-RMA-IK-6"}
    assert admin.post(f"/api/v1/instances/{instance_id}/suspend", headers=key).status_code == 200
    assert admin.post(f"/api/v1/instances/{instance_id}/resume").status_code == 200

    clock.advance(hours=25)
    later = admin.post(f"/api/v1/instances/{instance_id}/suspend", headers=key)

    assert later.status_code == 200 and "Idempotent-Replayed" not in later.headers
    assert _events(web_engine, instance_id, "instance_suspended") == 2


def test_a_key_must_be_1_to_200_characters(as_):
    _, task_id = _return(as_("shop"), "RMA-IK-7")
    answer = as_("shop").post(f"/api/v1/tasks/{task_id}/claim", headers={"Idempotency-Key": "x" * 201})
    assert answer.status_code == 422 and "Idempotency-Key" in answer.get_json()["errors"]


def test_every_api_command_documents_the_header(as_):
    spec = as_("shop").get("/api/openapi.json").get_json()
    commands = [(path, method) for path, operations in spec["paths"].items() for method in operations
                if method in ("post", "put", "patch", "delete") and path != "/api/v1/recall-scope"]
    assert len(commands) >= 14
    for path, method in commands:
        names = [p.get("name") for p in spec["paths"][path][method].get("parameters", [])]
        assert "Idempotency-Key" in names, (method, path)


def test_a_retry_while_the_first_runs_hears_409_then_the_first_answer(app, tokens, web_engine, backend):
    if backend != "postgres":
        pytest.skip("on SQLite writers take turns: the retry waits for the first and hears its answer")
    shop, other_client = (ApiClient(app.test_client(), tokens["shop"]) for _ in range(2))
    instance_id, task_id = _return(shop, "RMA-IK-8")
    key = {"Idempotency-Key": "complete-RMA-IK-8"}
    answers = {}
    with web_engine.db.transaction() as holding:
        lock_instance(holding, instance_id)  # the first request records its key, then waits for this lock
        first = threading.Thread(target=lambda: answers.setdefault(
            "first", shop.post(f"/api/v1/tasks/{task_id}/complete", json=VALUES, headers=key)))
        first.start()
        time.sleep(1.0)
        answers["during"] = other_client.post(f"/api/v1/tasks/{task_id}/complete", json=VALUES, headers=key)
    first.join(30)

    after = shop.post(f"/api/v1/tasks/{task_id}/complete", json=VALUES, headers=key)
    assert (answers["during"].status_code, answers["during"].mimetype) == (409, "application/problem+json")
    assert "still running" in answers["during"].get_json()["detail"]
    assert answers["first"].status_code == 200
    assert (after.status_code, after.get_json()) == (200, answers["first"].get_json())
    assert _events(web_engine, instance_id, "task_completed") == 1


def test_an_upload_with_nameless_parts_is_fingerprinted_and_refused_for_what_it_holds(app, tokens):
    """Parts without a name sort beside named ones (once a 500); the upload is then judged like any other."""
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nnull\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"%0A\"\r\n\r\nnull\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"files.png\"\r\n\r\n"
            f"PNG\r\n--{boundary}--\r\n").encode()
    answer = app.test_client().post("/api/v1/deployments", data=body, headers={
        "Authorization": f"Bearer {tokens['admin']}", "Idempotency-Key": "nameless-parts",
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert "files.png" in answer.get_json()["errors"]["files"]
