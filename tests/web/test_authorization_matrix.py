"""Each role × each endpoint group → the expected status; another group's task stays out of reach."""

from __future__ import annotations

import io
import itertools

import pytest

from tests.conftest import ADMIN, FIXTURES
from tests.support import inspect
from web.auth.apikeys import create_api_key
from web.extensions import db

PERSONAS = ["admin", "owner", "auditor", "carrier", "clerk", "finance", "manager", None]
KEY_NUMBERS = itertools.count(1)


@pytest.fixture
def new_world(app, web_engine, as_, ledger):
    """Make a fresh World for each call."""
    return lambda: World(app, web_engine, as_, ledger)


@pytest.fixture
def world(new_world):
    return new_world()


class World:
    """A fresh refund claim waiting for a sales manager (started by the clerk); on demand, the other things
    an endpoint group acts on, each made by someone allowed to before the persona's call."""

    def __init__(self, app, web_engine, as_, ledger):
        self.app, self.engine, self.as_, self.ledger = app, web_engine, as_, ledger
        started = as_("clerk").post("/api/v1/process-definitions/refund_claim/start",
                                    json={"businessKey": "RMA-M", "variables": {"amount": 9000, "customer": "c"}})
        assert started.status_code == 201, started.get_json()
        self.instance = started.get_json()["id"]
        [task] = inspect.open_tasks(web_engine, self.instance)
        self.task = task.id

    def claimed_by_manager(self) -> str:
        claimed = self.as_("manager").post(f"/api/v1/tasks/{self.task}/claim")
        assert claimed.status_code == 200, claimed.get_json()
        return self.task

    def suspended(self) -> str:
        suspended = self.as_("admin").post(f"/api/v1/instances/{self.instance}/suspend")
        assert suspended.status_code == 200, suspended.get_json()
        return self.instance

    def incident(self) -> int:
        """An incident on a small claim whose refund the ERP rejected with a code no boundary catches."""
        row = self.engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 10, "customer": "c"})
        self.ledger.script("test.refund", "business:E_NOT_CAUGHT")
        assert inspect.run_pending_jobs(self.engine, row.id) == ["incident"]
        [incident] = self.engine.queries.open_incidents(ADMIN, instance_id=row.id)
        return incident.id

    def api_key(self) -> int:
        with self.app.app_context():
            issued = create_api_key(db.session, f"spare-{next(KEY_NUMBERS)}", "integration", created_by="test",
                                    now=self.engine.now())
            db.session.commit()
            return issued.key.id


def deploy(client, _world):
    content = (FIXTURES / "message_start.bpmn").read_bytes()
    return client.post("/api/v1/deployments", data={"files": [(io.BytesIO(content), "m.bpmn")]},
                       content_type="multipart/form-data")


def create_key(client, _world):
    return client.post("/api/v1/api-keys", json={"name": f"new-{next(KEY_NUMBERS)}", "role": "integration"})


CASES = {
    # endpoint group: (call, expected status per persona in PERSONAS order)
    #                                admin owner auditor carrier clerk finance manager anonymous
    "deploy": (deploy, [201, 201, 403, 403, 403, 403, 403, 401]),
    "list definitions": (lambda c, w: c.get("/api/v1/process-definitions"),
                         [200, 200, 200, 200, 200, 200, 200, 401]),
    "definition xml": (lambda c, w: c.get("/api/v1/process-definitions/refund_claim/xml"),
                       [200, 200, 200, 200, 200, 200, 200, 401]),
    "start": (lambda c, w: c.post("/api/v1/process-definitions/refund_claim/start",
                                  json={"variables": {"amount": 1, "customer": "x"}}),
              [201, 201, 403, 201, 201, 201, 201, 401]),
    "list instances": (lambda c, w: c.get("/api/v1/instances"), [200, 200, 200, 200, 200, 200, 200, 401]),
    "read instance": (lambda c, w: c.get(f"/api/v1/instances/{w.instance}"),
                      [200, 200, 200, 404, 200, 404, 200, 401]),
    "instance history": (lambda c, w: c.get(f"/api/v1/instances/{w.instance}/history"),
                         [200, 200, 200, 404, 200, 404, 200, 401]),
    "cancel": (lambda c, w: c.post(f"/api/v1/instances/{w.instance}/cancel", json={"reason": "matrix"}),
               [200, 200, 403, 403, 403, 403, 403, 401]),
    "suspend": (lambda c, w: c.post(f"/api/v1/instances/{w.instance}/suspend"),
                [200, 200, 403, 403, 403, 403, 403, 401]),
    "resume": (lambda c, w: c.post(f"/api/v1/instances/{w.suspended()}/resume"),
               [200, 200, 403, 403, 403, 403, 403, 401]),
    "list tasks": (lambda c, w: c.get("/api/v1/tasks"), [200, 200, 200, 200, 200, 200, 200, 401]),
    "read task": (lambda c, w: c.get(f"/api/v1/tasks/{w.task}"), [200, 200, 200, 404, 404, 404, 200, 401]),
    "claim task": (lambda c, w: c.post(f"/api/v1/tasks/{w.task}/claim"),
                   [200, 403, 403, 404, 404, 404, 200, 401]),
    "unclaim open task": (lambda c, w: c.post(f"/api/v1/tasks/{w.task}/unclaim"),
                          [200, 403, 403, 404, 404, 404, 200, 401]),
    "unclaim the manager's task": (lambda c, w: c.post(f"/api/v1/tasks/{w.claimed_by_manager()}/unclaim"),
                                   [200, 403, 403, 404, 404, 404, 200, 401]),
    "assign task": (lambda c, w: c.post(f"/api/v1/tasks/{w.task}/assign", json={"user": "apikey:manager"}),
                    [200, 403, 403, 404, 404, 404, 200, 401]),
    "complete task": (lambda c, w: c.post(f"/api/v1/tasks/{w.task}/complete",
                                          json={"variables": {"approved": False}}),
                      [200, 403, 403, 404, 404, 404, 200, 401]),
    "message": (lambda c, w: c.post("/api/v1/messages", json={"messageName": "Nobody", "businessKey": "x"}),
                [404, 404, 403, 404, 403, 403, 403, 401]),
    "jobs": (lambda c, w: c.get("/api/v1/jobs"), [200, 200, 200, 403, 403, 403, 403, 401]),
    "incidents": (lambda c, w: c.get("/api/v1/incidents"), [200, 200, 200, 403, 403, 403, 403, 401]),
    "retry incident": (lambda c, w: c.post(f"/api/v1/incidents/{w.incident()}/retry"),
                       [200, 200, 403, 403, 403, 403, 403, 401]),
    "api keys": (lambda c, w: c.get("/api/v1/api-keys"), [200, 403, 403, 403, 403, 403, 403, 401]),
    "create api key": (create_key, [201, 403, 403, 403, 403, 403, 403, 401]),
    "revoke api key": (lambda c, w: c.delete(f"/api/v1/api-keys/{w.api_key()}"),
                       [200, 403, 403, 403, 403, 403, 403, 401]),
}


@pytest.mark.parametrize("group", CASES)
def test_role_matrix(as_, new_world, group):
    """Each persona meets a fresh instance, so one persona's change cannot shape another's answer."""
    call, expected = CASES[group]
    actual = [call(as_(persona), new_world()).status_code for persona in PERSONAS]
    assert actual == expected, dict(zip(PERSONAS, actual, strict=True))


def test_staff_of_another_group_can_neither_see_nor_complete_the_task(as_, world, web_engine):
    version = inspect.instance(web_engine, world.instance).version
    finance = as_("finance")
    listed = finance.get("/api/v1/tasks").get_json()
    assert world.task not in [t["id"] for t in listed["items"]]
    completed = finance.post(f"/api/v1/tasks/{world.task}/complete", json={"variables": {"approved": True}})
    assert completed.status_code == 404
    auditor = as_("auditor").post(f"/api/v1/tasks/{world.task}/complete", json={"variables": {"approved": True}})
    assert auditor.status_code == 403  # sees everything, changes nothing
    assert inspect.instance(web_engine, world.instance).version == version
    manager = as_("manager").post(f"/api/v1/tasks/{world.task}/complete", json={"variables": {"approved": False}})
    assert manager.status_code == 200, manager.get_json()


def test_integration_reads_only_its_own_instances(as_, world, web_engine):
    mine = as_("carrier").post("/api/v1/process-definitions/refund_claim/start",
                               json={"variables": {"amount": 1, "customer": "x"}}).get_json()
    listed = as_("carrier").get("/api/v1/instances").get_json()
    assert [i["id"] for i in listed["items"]] == [mine["id"]]
    everything = as_("auditor").get("/api/v1/instances").get_json()
    assert everything["total"] == 2
    assert inspect.instance(web_engine, mine["id"]).started_by == "apikey:carrier"


def test_lists_hold_the_claim_only_for_those_who_may_read_it(as_, world):
    """The lists answer 200 to everyone signed in; what they hold follows the same rules as reading one."""
    def listed(persona, path):
        return [item["id"] for item in as_(persona).get(path).get_json()["items"]]

    sees_instance = {p: world.instance in listed(p, "/api/v1/instances") for p in PERSONAS if p}
    sees_task = {p: world.task in listed(p, "/api/v1/tasks") for p in PERSONAS if p}
    assert sees_instance == {"admin": True, "owner": True, "auditor": True, "carrier": False, "clerk": True,
                             "finance": False, "manager": True}
    assert sees_task == {"admin": True, "owner": True, "auditor": True, "carrier": False, "clerk": False,
                         "finance": False, "manager": True}


def test_roles_that_may_not_work_on_a_task_cannot_release_it_either(as_, world, web_engine):
    """Unclaiming writes to the history like claiming does, so it needs the same right to the task."""
    version = inspect.instance(web_engine, world.instance).version
    for persona in ("auditor", "owner"):
        refused = as_(persona).post(f"/api/v1/tasks/{world.task}/unclaim")
        assert refused.status_code == 403, (persona, refused.get_json())
    assert inspect.instance(web_engine, world.instance).version == version
    assert "task_unclaimed" not in [e.type for e in inspect.history(web_engine, world.instance)]

    world.claimed_by_manager()
    assert as_("auditor").post(f"/api/v1/tasks/{world.task}/unclaim").status_code == 403
    released = as_("manager").post(f"/api/v1/tasks/{world.task}/unclaim")
    assert released.status_code == 200 and released.get_json()["assignee"] is None
    assert as_("owner").post(f"/api/v1/tasks/{world.task}/unclaim").status_code == 403
    moves = [(e.type, e.actor) for e in inspect.history(web_engine, world.instance)
             if e.type in ("task_claimed", "task_unclaimed")]
    assert moves == [("task_claimed", "apikey:manager"), ("task_unclaimed", "apikey:manager")]


def test_releasing_a_task_assigned_outside_ones_groups_answers_success(as_, world, web_engine):
    assigned = as_("admin").post(f"/api/v1/tasks/{world.task}/assign", json={"user": "apikey:finance"})
    assert assigned.status_code == 200, assigned.get_json()
    assert as_("finance").get(f"/api/v1/tasks/{world.task}").status_code == 200  # the assignee sees it
    released = as_("finance").post(f"/api/v1/tasks/{world.task}/unclaim")  # one's own, whatever the group
    assert inspect.open_tasks(web_engine, world.instance)[0].assignee is None  # the release did happen
    assert released.status_code == 200, released.get_json()
