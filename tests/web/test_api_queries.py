"""Every instance and task filter of the REST API, and the commands around a task or instance over HTTP:
unclaim, assign, cancel, suspend / resume, incident retry, and the 409 of an ambiguous message."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import pytest

from tests.conftest import FIXTURES
from tests.support import inspect

START = "/api/v1/process-definitions/{}/start"


@pytest.fixture
def cases(as_, clock) -> dict[str, dict]:
    """Five cases started an hour apart (09:00 … 13:00 UTC on 2026-01-05); the last one cancelled.

    RC-1 refund 9000 (Ada Lovelace) → approve task, sales_manager, priority 70, due +24 h
    RMA-1 shop return (Ada), started by the shop → details task, group shop, priority 50, due +2 days
    RC-2 refund 7000 (Bob) → approve task
    RC-3 refund 10 (Cy) → no user task, waits for its refund job
    RMA-2 shop return (Dee) → cancelled, its task cancelled with it
    """
    starts = [("refund_claim", "RC-1", {"amount": 9000, "customer": "Ada Lovelace"}, "admin"),
              ("shop_return", "RMA-1", {"customer": "Ada"}, "shop"),
              ("refund_claim", "RC-2", {"amount": 7000, "customer": "Bob"}, "admin"),
              ("refund_claim", "RC-3", {"amount": 10, "customer": "Cy"}, "admin"),
              ("shop_return", "RMA-2", {"customer": "Dee"}, "admin")]
    made = {}
    for index, (key, business_key, variables, persona) in enumerate(starts):
        if index:
            clock.advance(hours=1)
        response = as_(persona).post(START.format(key), json={"businessKey": business_key, "variables": variables})
        assert response.status_code == 201, response.get_json()
        made[business_key] = response.get_json()
    cancelled = as_("admin").post(f"/api/v1/instances/{made['RMA-2']['id']}/cancel", json={"reason": "duplicate"})
    assert cancelled.status_code == 200, cancelled.get_json()
    return made


@pytest.fixture
def task_of(as_, cases):
    """The business key's task (in any state), as the admin sees it in the list."""
    def find(business_key: str) -> dict:
        for state in ("ready", "completed", "cancelled"):
            items = as_("admin").get(f"/api/v1/tasks?businessKey={business_key}&state={state}").get_json()["items"]
            if items:
                return items[0]
        raise AssertionError(f"no task for {business_key}")
    return find


def instance_keys(client, **query) -> list[str]:
    response = client.get(f"/api/v1/instances?{urlencode(query)}")
    assert response.status_code == 200, response.get_json()
    return [i["businessKey"] for i in response.get_json()["items"]]


def task_keys(client, **query) -> list[str]:
    response = client.get(f"/api/v1/tasks?{urlencode(query)}")
    assert response.status_code == 200, response.get_json()
    return [t["businessKey"] for t in response.get_json()["items"]]


def test_instance_filters(as_, cases):
    admin = as_("admin")
    assert instance_keys(admin) == ["RMA-2", "RC-3", "RC-2", "RMA-1", "RC-1"]  # newest first
    assert instance_keys(admin, definitionKey="refund_claim") == ["RC-3", "RC-2", "RC-1"]
    assert instance_keys(admin, definitionKey="shop_return") == ["RMA-2", "RMA-1"]
    assert instance_keys(admin, definitionKey="no_such_process") == []
    assert instance_keys(admin, status="cancelled") == ["RMA-2"]
    assert instance_keys(admin, status="running") == ["RC-3", "RC-2", "RMA-1", "RC-1"]
    assert instance_keys(admin, status="completed") == []
    assert instance_keys(admin, businessKey="RC-2") == ["RC-2"]
    assert instance_keys(admin, businessKey="RC") == []  # exact, not a prefix
    assert instance_keys(admin, definitionKey="refund_claim", status="running", businessKey="RC-1") == ["RC-1"]


def test_instance_started_after_and_before(as_, cases):
    admin = as_("admin")
    assert instance_keys(admin, startedAfter="2026-01-05T10:00:00Z") == ["RMA-2", "RC-3", "RC-2", "RMA-1"]  # ≥
    assert instance_keys(admin, startedBefore="2026-01-05T11:00:00Z") == ["RMA-1", "RC-1"]  # <
    assert instance_keys(admin, startedAfter="2026-01-05T10:00:00Z",
                         startedBefore="2026-01-05T12:00:00Z") == ["RC-2", "RMA-1"]
    # the same moment written in another time zone selects the same instances
    assert instance_keys(admin, startedAfter="2026-01-05T12:00:00+02:00",
                         startedBefore="2026-01-05T07:00:00-05:00") == ["RC-2", "RMA-1"]
    assert instance_keys(admin, startedAfter="2026-01-06T00:00:00Z") == []
    naive = admin.get("/api/v1/instances?startedAfter=2026-01-05T10:00:00")
    assert naive.status_code == 422 and "startedAfter" in naive.get_json()["errors"]


def test_instance_variable_equals_and_contains(as_, cases):
    admin = as_("admin")
    assert instance_keys(admin, variable="customer", equals="Ada") == ["RMA-1"]
    assert instance_keys(admin, variable="customer", contains="Ada") == ["RMA-1", "RC-1"]
    assert instance_keys(admin, variable="customer", contains="Love") == ["RC-1"]
    assert instance_keys(admin, variable="customer", contains="love") == ["RC-1"]  # any case, on every database
    assert instance_keys(admin, variable="customer", contains="%") == []  # wildcards are literal
    assert instance_keys(admin, variable="amount", equals="7000") == ["RC-2"]
    assert instance_keys(admin, variable="amount") == ["RC-3", "RC-2", "RC-1"]  # has the variable at all
    missing = admin.get("/api/v1/instances?equals=Ada")
    assert missing.status_code == 422 and "variable" in missing.get_json()["errors"]
    bad_name = admin.get("/api/v1/instances?variable=a.b&equals=x")
    assert bad_name.status_code == 422 and "variable" in bad_name.get_json()["errors"]


def test_boolean_variable_equals_true(as_, cases):
    """A JSON true reads as 'true' on every database (SQLite's json_extract alone would give 1)."""
    admin = as_("admin")
    started = admin.post(START.format("shop_return"), json={"businessKey": "FLAG", "variables": {"vip": True}})
    assert started.status_code == 201
    assert instance_keys(admin, variable="vip", equals="true") == ["FLAG"]
    assert instance_keys(admin, variable="vip", equals="1") == []


def test_instance_pages(as_, cases):
    admin = as_("admin")
    first = admin.get("/api/v1/instances?limit=2").get_json()
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [i["businessKey"] for i in first["items"]] == ["RMA-2", "RC-3"]
    assert instance_keys(admin, limit=2, offset=2) == ["RC-2", "RMA-1"]
    last = admin.get("/api/v1/instances?limit=2&offset=4").get_json()
    assert ([i["businessKey"] for i in last["items"]], last["total"]) == (["RC-1"], 5)
    beyond = admin.get("/api/v1/instances?limit=2&offset=10").get_json()
    assert (beyond["items"], beyond["total"]) == ([], 5)
    filtered = admin.get("/api/v1/instances?definitionKey=refund_claim&limit=1&offset=1").get_json()
    assert ([i["businessKey"] for i in filtered["items"]], filtered["total"]) == (["RC-2"], 3)
    for bad in ("limit=0", "limit=201", "offset=-1"):
        assert admin.get(f"/api/v1/instances?{bad}").status_code == 422, bad


def test_instance_list_is_limited_to_what_the_caller_may_read(as_, cases):
    assert instance_keys(as_("shop")) == ["RMA-1"]  # only what it started, not RMA-2 with a task of its group
    assert instance_keys(as_("manager"), definitionKey="shop_return") == []
    assert instance_keys(as_("manager")) == ["RC-2", "RC-1"]  # refunds with a sales manager task


def test_task_filters_by_group_and_assignee(as_, cases, task_of):
    admin, manager = as_("admin"), as_("manager")
    assert task_keys(admin) == ["RC-1", "RMA-1", "RC-2"]  # ready tasks, oldest first
    assert task_keys(admin, state="cancelled") == ["RMA-2"]
    assert task_keys(manager, myGroups="true") == ["RC-1", "RC-2"]
    assert task_keys(as_("shop"), myGroups="true") == ["RMA-1"]
    assert task_keys(as_("finance"), myGroups="true") == []
    assert task_keys(admin, group="sales_manager") == ["RC-1", "RC-2"]
    assert task_keys(admin, group="shop") == ["RMA-1"]
    assert task_keys(admin, group="legal") == []

    assert task_keys(manager, assignedToMe="true") == []
    claimed = manager.post(f"/api/v1/tasks/{task_of('RC-2')['id']}/claim")
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "apikey:manager"
    assert task_keys(manager, assignedToMe="true") == ["RC-2"]
    assert task_keys(admin, unassigned="true") == ["RC-1", "RMA-1"]
    assert task_keys(manager, myGroups="true", unassigned="true") == ["RC-1"]
    assert task_keys(admin, assignedToMe="true") == []  # the admin holds none of them


def test_task_filters_by_case(as_, cases):
    admin = as_("admin")
    assert task_keys(admin, instanceId=cases["RC-2"]["id"]) == ["RC-2"]
    assert task_keys(admin, instanceId=cases["RC-3"]["id"]) == []  # waits for a job, no user task
    assert task_keys(admin, instanceId="no-such-instance") == []
    assert task_keys(admin, businessKey="RMA-1") == ["RMA-1"]
    assert task_keys(admin, definitionKey="refund_claim") == ["RC-1", "RC-2"]
    assert task_keys(admin, variable="customer", contains="Ada") == ["RC-1", "RMA-1"]
    assert task_keys(admin, variable="customer", equals="Bob") == ["RC-2"]
    assert task_keys(admin, variable="amount", equals="9000") == ["RC-1"]
    missing = admin.get("/api/v1/tasks?contains=Ada")
    assert missing.status_code == 422 and "variable" in missing.get_json()["errors"]


def test_task_due_before(as_, cases):
    admin = as_("admin")
    # approve tasks are due 24 h after they were created (RC-1 09:00, RC-2 11:00); RMA-1 two days (10:00)
    assert task_keys(admin, dueBefore="2026-01-06T09:00:00Z") == []  # strictly before
    assert task_keys(admin, dueBefore="2026-01-06T09:00:01Z") == ["RC-1"]
    assert task_keys(admin, dueBefore="2026-01-06T12:00:00Z") == ["RC-1", "RC-2"]
    assert task_keys(admin, dueBefore="2026-01-06T13:00:00+01:00") == ["RC-1", "RC-2"]
    assert task_keys(admin, dueBefore="2026-01-08T00:00:00Z") == ["RC-1", "RMA-1", "RC-2"]
    items = admin.get("/api/v1/tasks?businessKey=RMA-1").get_json()["items"]
    assert items[0]["dueAt"].startswith("2026-01-07T10:00:00")


def test_task_sorting(as_, cases):
    admin = as_("admin")
    assert task_keys(admin, sort="created") == ["RC-1", "RMA-1", "RC-2"]
    assert task_keys(admin, sort="created", descending="true") == ["RC-2", "RMA-1", "RC-1"]
    assert task_keys(admin, sort="due") == ["RC-1", "RC-2", "RMA-1"]
    assert task_keys(admin, sort="due", descending="true") == ["RMA-1", "RC-2", "RC-1"]
    by_priority = admin.get("/api/v1/tasks?sort=priority").get_json()["items"]
    assert [t["priority"] for t in by_priority] == [50, 70, 70]
    by_priority = admin.get("/api/v1/tasks?sort=priority&descending=true").get_json()["items"]
    assert [t["priority"] for t in by_priority] == [70, 70, 50]
    by_name = admin.get("/api/v1/tasks?sort=name&descending=true").get_json()["items"]
    assert [t["name"] for t in by_name] == ["Provide return details", "Approve refund", "Approve refund"]
    bad = admin.get("/api/v1/tasks?sort=assignee")
    assert bad.status_code == 422 and "sort" in bad.get_json()["errors"]


def test_task_pages(as_, cases):
    admin = as_("admin")
    page = admin.get("/api/v1/tasks?limit=1&offset=1").get_json()
    assert ([t["businessKey"] for t in page["items"]], page["total"], page["limit"], page["offset"]) == (
        ["RMA-1"], 3, 1, 1)
    page = admin.get("/api/v1/tasks?sort=due&descending=true&limit=2&offset=1").get_json()
    assert ([t["businessKey"] for t in page["items"]], page["total"]) == (["RC-2", "RC-1"], 3)
    page = admin.get("/api/v1/tasks?group=sales_manager&limit=5&offset=2").get_json()
    assert (page["items"], page["total"]) == ([], 2)


def test_claim_unclaim_and_assign_over_the_api(as_, cases, task_of, web_engine):
    manager, clerk, admin = as_("manager"), as_("clerk"), as_("admin")
    task_id = task_of("RC-1")["id"]
    assert manager.post(f"/api/v1/tasks/{task_id}/claim").get_json()["assignee"] == "apikey:manager"
    assert clerk.post(f"/api/v1/tasks/{task_id}/unclaim").status_code == 404  # not the clerk's group
    unclaimed = manager.post(f"/api/v1/tasks/{task_id}/unclaim")
    assert unclaimed.status_code == 200 and unclaimed.get_json()["assignee"] is None
    assert task_keys(manager, assignedToMe="true") == []

    assigned = admin.post(f"/api/v1/tasks/{task_id}/assign", json={"user": "apikey:manager"})
    assert assigned.status_code == 200 and assigned.get_json()["assignee"] == "apikey:manager"
    assert task_keys(manager, assignedToMe="true") == ["RC-1"]
    missing_user = admin.post(f"/api/v1/tasks/{task_id}/assign", json={})
    assert missing_user.status_code == 422 and "user" in missing_user.get_json()["errors"]
    assert as_("owner").post(f"/api/v1/tasks/{task_id}/claim").status_code == 403  # not in the task's group

    history = admin.get(f"/api/v1/instances/{cases['RC-1']['id']}/history").get_json()
    moves = [(e["type"], e["actor"], e["payload"]["assignee"]) for e in history
             if e["type"] in ("task_claimed", "task_unclaimed", "task_assigned")]
    assert moves == [("task_claimed", "apikey:manager", "apikey:manager"),
                     ("task_unclaimed", "apikey:manager", None),
                     ("task_assigned", "apikey:admin", "apikey:manager")]
    done = manager.post(f"/api/v1/tasks/{task_id}/complete", json={"variables": {"approved": False}})
    assert done.status_code == 200 and done.get_json()["completedBy"] == "apikey:manager"
    assert admin.post(f"/api/v1/tasks/{task_id}/unclaim").status_code == 409  # completed tasks stay as they are
    assert inspect.instance(web_engine, cases["RC-1"]["id"]).status == "completed"


def test_cancel_over_the_api(as_, cases, task_of):
    admin = as_("admin")
    instance_id = cases["RC-2"]["id"]
    task_id = task_of("RC-2")["id"]
    assert as_("manager").post(f"/api/v1/instances/{instance_id}/cancel").status_code == 403
    cancelled = admin.post(f"/api/v1/instances/{instance_id}/cancel", json={"reason": "customer withdrew"})
    assert cancelled.status_code == 200
    body = cancelled.get_json()
    assert (body["status"], body["endedAt"] is not None, body["nextTimerAt"]) == ("cancelled", True, None)
    assert admin.get(f"/api/v1/tasks/{task_id}").get_json()["state"] == "cancelled"
    assert admin.post(f"/api/v1/instances/{instance_id}/cancel").status_code == 409
    events = admin.get(f"/api/v1/instances/{instance_id}/history").get_json()
    [event] = [e for e in events if e["type"] == "instance_cancelled"]
    assert event["actor"] == "apikey:admin" and "customer withdrew" in str(event["payload"])
    assert admin.post("/api/v1/instances/no-such-instance/cancel").status_code == 404


def test_suspend_and_resume_over_the_api(as_, cases, task_of):
    admin, manager = as_("admin"), as_("manager")
    instance_id = cases["RC-1"]["id"]
    task_id = task_of("RC-1")["id"]
    suspended = admin.post(f"/api/v1/instances/{instance_id}/suspend")
    assert suspended.status_code == 200 and suspended.get_json()["status"] == "suspended"
    assert instance_keys(admin, status="suspended") == ["RC-1"]
    assert admin.post(f"/api/v1/instances/{instance_id}/suspend").status_code == 409
    blocked = manager.post(f"/api/v1/tasks/{task_id}/complete", json={"variables": {"approved": True}})
    assert blocked.status_code == 409 and blocked.content_type == "application/problem+json"
    resumed = admin.post(f"/api/v1/instances/{instance_id}/resume")
    assert resumed.status_code == 200 and resumed.get_json()["status"] == "running"
    assert admin.post(f"/api/v1/instances/{instance_id}/resume").status_code == 409
    assert admin.post(f"/api/v1/instances/{cases['RMA-2']['id']}/resume").status_code == 409  # cancelled
    done = manager.post(f"/api/v1/tasks/{task_id}/complete", json={"variables": {"approved": False}})
    assert done.status_code == 200, done.get_json()
    types = [e["type"] for e in admin.get(f"/api/v1/instances/{instance_id}/history").get_json()]
    assert types.index("instance_suspended") < types.index("instance_resumed") < types.index("task_completed")


def test_incident_retry_over_the_api(as_, cases, web_engine, ledger):
    owner = as_("owner")
    instance_id = cases["RC-3"]["id"]
    ledger.script("test.refund", "business:E_NOT_CAUGHT")  # no boundary event catches this code
    assert inspect.run_pending_jobs(web_engine, instance_id) == ["incident"]

    [incident] = owner.get("/api/v1/incidents").get_json()["items"]
    assert (incident["instanceId"], incident["elementId"], incident["resolvedAt"]) == (instance_id, "refund", None)
    assert "E_NOT_CAUGHT" in incident["message"]
    [job] = owner.get("/api/v1/jobs?status=incident").get_json()["items"]
    assert job["id"] == incident["jobId"]
    assert as_("auditor").post(f"/api/v1/incidents/{incident['id']}/retry").status_code == 403

    retried = owner.post(f"/api/v1/incidents/{incident['id']}/retry")
    assert retried.status_code == 200, retried.get_json()
    assert (retried.get_json()["resolvedBy"], retried.get_json()["resolvedAt"] is not None) == ("apikey:owner", True)
    assert owner.get("/api/v1/incidents").get_json()["total"] == 0
    assert owner.get("/api/v1/incidents?open=false").get_json()["total"] == 1
    assert [j["id"] for j in owner.get("/api/v1/jobs?status=pending").get_json()["items"]] == [job["id"]]
    assert owner.post(f"/api/v1/incidents/{incident['id']}/retry").status_code == 409
    assert owner.post("/api/v1/incidents/99999/retry").status_code == 404

    assert inspect.run_pending_jobs(web_engine, instance_id) == ["completed"]
    assert owner.get("/api/v1/jobs?status=completed").get_json()["items"][0]["id"] == job["id"]
    assert len(ledger.effects("test.refund")) == 1


def test_an_ambiguous_message_is_a_409_and_changes_nothing(as_, web_engine):
    owner = as_("owner")
    model = (FIXTURES / "message_start.bpmn").read_bytes()
    deployed = owner.post("/api/v1/deployments", data={"files": [(io.BytesIO(model), "message_start.bpmn")]},
                          content_type="multipart/form-data")
    assert deployed.status_code == 201, deployed.get_json()
    started = [owner.post("/api/v1/messages", json={"messageName": "ReturnFiled", "businessKey": key,
                                                    "variables": {"rmaNumber": "R-SAME"}}).get_json()
               for key in ("A", "B")]
    assert [s["started"] for s in started] == [True, True]
    versions = {s["instanceId"]: inspect.instance(web_engine, s["instanceId"]).version for s in started}

    ambiguous = owner.post("/api/v1/messages", json={"messageName": "LabelPrinted",
                                                     "correlationKeys": {"rmaNumber": "R-SAME"}})
    assert ambiguous.status_code == 409
    assert ambiguous.content_type == "application/problem+json"
    assert "2 instances" in ambiguous.get_json()["detail"]
    assert {i: inspect.instance(web_engine, i).version for i in versions} == versions
    assert inspect.open_tasks(web_engine, started[0]["instanceId"]) == []

    delivered = owner.post("/api/v1/messages", json={"messageName": "LabelPrinted", "businessKey": "B",
                                                     "correlationKeys": {"rmaNumber": "R-SAME"}})
    assert delivered.status_code == 200
    assert delivered.get_json() == {"instanceId": started[1]["instanceId"], "started": False}
    assert [t.element_id for t in inspect.open_tasks(web_engine, started[1]["instanceId"])] == ["triage"]
