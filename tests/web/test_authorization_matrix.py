"""Each role × each endpoint group → the expected status; another group's task stays out of reach."""

from __future__ import annotations

import io

import pytest

from tests.conftest import FIXTURES
from tests.support import inspect

PERSONAS = ["admin", "owner", "auditor", "carrier", "clerk", "finance", None]


@pytest.fixture
def new_world(web_engine, as_):
    """Make a running refund claim waiting for a sales manager, started by the clerk."""
    return lambda: make_world(web_engine, as_)


@pytest.fixture
def world(new_world):
    return new_world()


def make_world(web_engine, as_) -> dict[str, str]:
    started = as_("clerk").post("/api/v1/process-definitions/refund_claim/start",
                                json={"businessKey": "RMA-M", "variables": {"amount": 9000, "customer": "c"}})
    assert started.status_code == 201, started.get_json()
    instance_id = started.get_json()["id"]
    [task] = inspect.open_tasks(web_engine, instance_id)
    return {"instance": instance_id, "task": task.id}


def deploy(client, _world):
    content = (FIXTURES / "message_start.bpmn").read_bytes()
    return client.post("/api/v1/deployments", data={"files": [(io.BytesIO(content), "m.bpmn")]},
                       content_type="multipart/form-data")


CASES = {
    # endpoint group: (call, expected status per persona in PERSONAS order)
    "deploy": (deploy, [201, 201, 403, 403, 403, 403, 401]),
    "list definitions": (lambda c, w: c.get("/api/v1/process-definitions"), [200, 200, 200, 200, 200, 200, 401]),
    "start": (lambda c, w: c.post("/api/v1/process-definitions/refund_claim/start",
                                  json={"variables": {"amount": 1, "customer": "x"}}),
              [201, 201, 403, 201, 201, 201, 401]),
    "read instance": (lambda c, w: c.get(f"/api/v1/instances/{w['instance']}"), [200, 200, 200, 404, 200, 404, 401]),
    "instance history": (lambda c, w: c.get(f"/api/v1/instances/{w['instance']}/history"),
                         [200, 200, 200, 404, 200, 404, 401]),
    "suspend": (lambda c, w: c.post(f"/api/v1/instances/{w['instance']}/suspend"), [200, 200, 403, 403, 403, 403, 401]),
    "read task": (lambda c, w: c.get(f"/api/v1/tasks/{w['task']}"), [200, 200, 200, 404, 404, 404, 401]),
    "claim task": (lambda c, w: c.post(f"/api/v1/tasks/{w['task']}/claim"), [200, 403, 403, 404, 404, 404, 401]),
    "message": (lambda c, w: c.post("/api/v1/messages", json={"messageName": "Nobody", "businessKey": "x"}),
                [404, 404, 403, 404, 403, 403, 401]),
    "jobs": (lambda c, w: c.get("/api/v1/jobs"), [200, 200, 200, 403, 403, 403, 401]),
    "incidents": (lambda c, w: c.get("/api/v1/incidents"), [200, 200, 200, 403, 403, 403, 401]),
    "api keys": (lambda c, w: c.get("/api/v1/api-keys"), [200, 403, 403, 403, 403, 403, 401]),
}


@pytest.mark.parametrize("group", CASES)
def test_role_matrix(as_, new_world, group):
    """Each persona meets a fresh instance, so one persona's change cannot shape another's answer."""
    call, expected = CASES[group]
    actual = [call(as_(persona), new_world()).status_code for persona in PERSONAS]
    assert actual == expected, dict(zip(PERSONAS, actual, strict=True))


def test_staff_of_another_group_can_neither_see_nor_complete_the_task(as_, world, web_engine):
    version = inspect.instance(web_engine, world["instance"]).version
    finance = as_("finance")
    listed = finance.get("/api/v1/tasks").get_json()
    assert world["task"] not in [t["id"] for t in listed["items"]]
    completed = finance.post(f"/api/v1/tasks/{world['task']}/complete", json={"variables": {"approved": True}})
    assert completed.status_code == 404
    auditor = as_("auditor").post(f"/api/v1/tasks/{world['task']}/complete", json={"variables": {"approved": True}})
    assert auditor.status_code == 403  # sees everything, changes nothing
    assert inspect.instance(web_engine, world["instance"]).version == version
    manager = as_("manager").post(f"/api/v1/tasks/{world['task']}/complete", json={"variables": {"approved": False}})
    assert manager.status_code == 200, manager.get_json()


def test_integration_reads_only_its_own_instances(as_, world, web_engine):
    mine = as_("carrier").post("/api/v1/process-definitions/refund_claim/start",
                               json={"variables": {"amount": 1, "customer": "x"}}).get_json()
    listed = as_("carrier").get("/api/v1/instances").get_json()
    assert [i["id"] for i in listed["items"]] == [mine["id"]]
    everything = as_("auditor").get("/api/v1/instances").get_json()
    assert everything["total"] == 2
    assert web_engine.get_instance(mine["id"]).started_by == "apikey:carrier"
