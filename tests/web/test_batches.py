"""Batch operations over a filtered case list: cancel with a reason, retry incidents, migrate to another version
with progress; a round killed midway resumes at the next case. Staff are refused at every door."""

from __future__ import annotations

import pytest

from orchestrator.actors import Actor
from orchestrator.batch_models import BatchOperation
from orchestrator.batch_operations import LEASE, BatchRequest
from orchestrator.case_migration import INSTANCE_MIGRATED
from orchestrator.definitions import ModelFile
from orchestrator.errors import Forbidden, InvalidInput
from orchestrator.models import InstanceStatus, JobStatus
from orchestrator.query_filters import InstanceFilter
from tests.conftest import ADMIN, FIXTURES
from tests.security.test_roles import sign_in
from tests.support import inspect

OWNER = ("olivia@example.com", ("process_owner",), ())
STAFF = ("stan@example.com", ("staff",), ("customer_service",))


def deploy_shop_return_v2(engine) -> int:
    """The shop return with the details task due in three days instead of two."""
    xml = (FIXTURES / "web_return.bpmn").read_text(encoding="utf-8").replace('camunda:dueDate="P2D"',
                                                                              'camunda:dueDate="P3D"')
    [deployed] = engine.deployments.deploy([ModelFile("web_return.bpmn", xml)], actor=ADMIN)
    return deployed.version


def shop_returns(engine, count: int, prefix: str = "RMA-B") -> list[str]:
    return [engine.instances.start_instance("shop_return", actor=ADMIN, business_key=f"{prefix}-{n}",
                                            variables={"customer": "Ada"}).id for n in range(count)]


def run_batch(engine, batch_id: int, limit: int = 200) -> None:
    for _ in range(100):
        if engine.batches.get_batch(batch_id, actor=ADMIN).finished:
            return
        engine.batches.run_round(limit=limit, seconds=None)
    raise AssertionError("the batch did not finish")


def events(engine, instance_id: str, type_: str):
    return [e for e in inspect.history(engine, instance_id) if e.type == type_]


def test_cancel_over_a_filter_with_a_reason(web_engine, as_):
    cases = shop_returns(web_engine, 3)
    web_engine.instances.cancel_instance(cases[0], actor=ADMIN, reason="withdrawn")
    refused = as_("owner").post("/api/v1/batches", json={"kind": "cancel", "filter": {"definitionKey": "shop_return"}})
    assert refused.status_code == 422 and "parameters.reason" in refused.get_json()["errors"]
    answer = as_("owner").post("/api/v1/batches", json={
        "kind": "cancel", "filter": {"definitionKey": "shop_return", "status": "running"},
        "parameters": {"reason": "the shop closed"}})
    assert answer.status_code == 201, answer.get_json()
    batch = answer.get_json()
    assert (batch["kind"], batch["status"], batch["total"], batch["done"]) == ("cancel", "queued", 2, 0)
    assert batch["parameters"] == {"reason": "the shop closed"}

    run_batch(web_engine, batch["id"])
    progress = as_("owner").get(f"/api/v1/batches/{batch['id']}").get_json()
    assert (progress["status"], progress["done"], progress["failed"], progress["total"]) == ("done", 2, 0, 2)
    for instance_id in cases[1:]:
        assert inspect.instance(web_engine, instance_id).status == InstanceStatus.CANCELLED
        [event] = events(web_engine, instance_id, "instance_cancelled")
        assert (event.actor, event.payload["reason"]) == ("apikey:owner", "the shop closed")
    assert [b["id"] for b in as_("owner").get("/api/v1/batches").get_json()] == [batch["id"]]


def test_retry_over_a_filter_retries_each_open_incident(web_engine, ledger):
    stuck = web_engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="RC-1",
                                                variables={"amount": 10, "customer": "Ada"}).id
    ledger.script("test.refund", "business:E_NOT_CAUGHT")
    assert inspect.run_pending_jobs(web_engine, stuck) == ["incident"]
    waiting = web_engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="RC-2",
                                                  variables={"amount": 9000, "customer": "Ada"}).id
    owner = _actor(OWNER)
    batch = web_engine.batches.create_batch(
        BatchRequest("retry", criteria=InstanceFilter(definition_key="refund_claim")), actor=owner)
    assert batch.total == 2
    run_batch(web_engine, batch.id)
    batch = web_engine.batches.get_batch(batch.id, actor=owner)
    assert (batch.status, batch.done, batch.failed) == ("done", 1, 1)
    assert batch.failures == {waiting: "the case has no open incident to retry"}
    [job] = inspect.jobs(web_engine, stuck)
    assert job.status == JobStatus.PENDING and events(web_engine, stuck, "incident_retried")


def test_a_migration_batch_moves_every_case_and_reports_progress(web_engine, as_):
    cases = shop_returns(web_engine, 5)
    version = deploy_shop_return_v2(web_engine)
    dry = as_("owner").post("/api/v1/migrations/dry-run", json={
        "processKey": "shop_return", "fromVersion": 1, "toVersion": version})
    assert dry.status_code == 200, dry.get_json()
    assert (dry.get_json()["movable"], dry.get_json()["unmovable"]) == (5, 0)
    answer = as_("owner").post("/api/v1/batches", json={
        "kind": "migrate", "instanceIds": cases, "parameters": {"toVersion": version}})
    assert answer.status_code == 201, answer.get_json()
    batch_id = answer.get_json()["id"]

    seen = []
    while not web_engine.batches.get_batch(batch_id, actor=ADMIN).finished:
        web_engine.batches.run_round(limit=2, seconds=None)
        seen.append(as_("owner").get(f"/api/v1/batches/{batch_id}").get_json()["done"])
    assert seen == [2, 4, 5]
    assert as_("owner").get(f"/api/v1/batches/{batch_id}").get_json()["status"] == "done"
    for instance_id in cases:
        [event] = events(web_engine, instance_id, INSTANCE_MIGRATED)
        assert (event.payload["from_version"], event.payload["to_version"]) == (1, version)
    [task] = inspect.open_tasks(web_engine, cases[0])
    web_engine.tasks.complete_user_task(task.id, {"orderNumber": "SO-1", "quantity": 1, "reason": "defect"},
                                        actor=ADMIN)
    assert inspect.open_tasks(web_engine, cases[0]) == []  # on v2 it waits for the parcel, as before


def test_a_killed_round_resumes_at_the_next_case_and_redoes_none(web_engine, clock):
    cases = shop_returns(web_engine, 4)
    version = deploy_shop_return_v2(web_engine)
    owner = _actor(OWNER)
    batch = web_engine.batches.create_batch(BatchRequest("migrate", {"to_version": version}, instance_ids=cases),
                                            actor=owner)
    # a round that handles two cases and then dies: its lease is left behind
    batches = web_engine.batches
    batch_id = batches._lease()
    with web_engine.db.reading() as session:
        parameters = dict(session.get(BatchOperation, batch_id).parameters)
    for position in range(2):
        batches._handle(batch_id, "migrate", parameters, cases[position], position, owner)
    # the third case moves by hand before the batch gets to it
    web_engine.case_migration.migrate_instance(cases[2], version, actor=owner)
    assert batches.run_round(seconds=None).handled == 0  # the dead round's lease still holds
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert batches.run_round(seconds=None).handled == 2
    batch = batches.get_batch(batch.id, actor=owner)
    assert (batch.status, batch.done, batch.failed, batch.total) == ("done", 4, 0, 4)
    for instance_id in cases:
        assert len(events(web_engine, instance_id, INSTANCE_MIGRATED)) == 1  # none moved twice


def test_staff_see_no_batches(web_engine, as_, app):
    cases = shop_returns(web_engine, 1)
    version = deploy_shop_return_v2(web_engine)
    for persona in ("clerk", "auditor"):
        client = as_(persona)
        assert client.post("/api/v1/batches", json={"kind": "retry", "instanceIds": cases}).status_code == 403
        assert client.get("/api/v1/batches").status_code == 403
        assert client.post("/api/v1/migrations/dry-run", json={
            "processKey": "shop_return", "fromVersion": 1, "toVersion": version}).status_code == 403
    with pytest.raises(Forbidden):
        web_engine.batches.create_batch(BatchRequest("cancel", {"reason": "x"}, instance_ids=cases),
                                        actor=_actor(STAFF))
    staff = sign_in(app, *STAFF)
    for path in ("/batches", "/processes/shop_return/migrate"):
        assert staff.get(path).status_code == 403
    assert b"/batches" not in staff.get("/instances").data


def test_bad_batches_are_refused(web_engine, as_):
    cases = shop_returns(web_engine, 1)
    with pytest.raises(InvalidInput):
        web_engine.batches.create_batch(BatchRequest("migrate", {"to_version": 9}, instance_ids=cases), actor=ADMIN)
    assert as_("owner").post("/api/v1/batches", json={"kind": "retry"}).status_code == 422
    assert as_("owner").post("/api/v1/batches", json={"kind": "retry", "instanceIds": ["nope"]}).status_code == 201
    assert as_("owner").get("/api/v1/batches/999").status_code == 404


def _actor(person):
    email, roles, groups = person
    return Actor(email, roles=frozenset(roles), groups=frozenset(groups))


def test_the_migration_page_dry_runs_and_queues_a_batch_whose_page_shows_progress(web_engine, app):
    cases = shop_returns(web_engine, 2)
    version = deploy_shop_return_v2(web_engine)
    owner = sign_in(app, *OWNER)
    page = owner.get(f"/processes/shop_return/migrate?from=1&to={version}&dry=1")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Migrate 2 cases" in text and "RMA-B-0" in text and "Cannot move" not in text
    answer = owner.post("/processes/shop_return/migrate", data={"csrf_token": owner.csrf, "from": 1, "to": version})
    assert answer.status_code == 302
    progress_url = answer.headers["Location"]
    queued = owner.get(progress_url).get_data(as_text=True)
    assert 'http-equiv="refresh"' in queued and "0 done, 0 failed of 2 cases" in queued
    run_batch(web_engine, int(progress_url.rsplit("/", 1)[1]))
    done = owner.get(progress_url).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in done and "2 done, 0 failed of 2 cases" in done
    assert progress_url.rsplit("/", 1)[1] in owner.get("/batches").get_data(as_text=True)
    assert all(events(web_engine, instance_id, INSTANCE_MIGRATED) for instance_id in cases)
    history = owner.get(f"/instances/{cases[0]}").get_data(as_text=True)
    assert "case moved to another version" in history


def test_a_removed_element_needs_a_choice_on_the_migration_page(web_engine, app):
    shop_returns(web_engine, 1)
    xml = (FIXTURES / "web_return.bpmn").read_text(encoding="utf-8").replace('"provide_details"', '"details"')
    [deployed] = web_engine.deployments.deploy([ModelFile("web_return.bpmn", xml)], actor=ADMIN)
    owner = sign_in(app, *OWNER)
    text = owner.get(f"/processes/shop_return/migrate?from=1&to={deployed.version}&dry=1").get_data(as_text=True)
    assert 'name="map-provide_details"' in text and "Cannot move" in text and "Migrate" not in text.split("dry-run")[-1]
    mapped = owner.get(f"/processes/shop_return/migrate?from=1&to={deployed.version}&dry=1&map-provide_details=details")
    assert "Migrate 1 case" in mapped.get_data(as_text=True)


def test_the_case_list_applies_a_batch_to_every_matching_case(web_engine, app):
    cases = shop_returns(web_engine, 3)
    web_engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 9000, "customer": "Ada"})
    owner = sign_in(app, *OWNER)
    listed = owner.get("/instances?process=shop_return&status=running").get_data(as_text=True)
    assert "Apply to all 3 matching cases" in listed and 'name="to_version"' in listed
    refused = owner.post("/batches", data={"csrf_token": owner.csrf, "kind": "cancel", "process": "shop_return"})
    assert refused.status_code == 302 and "/instances" in refused.headers["Location"]  # a reason is required
    answer = owner.post("/batches", data={"csrf_token": owner.csrf, "kind": "cancel", "reason": "shop closed",
                                          "process": "shop_return", "status": "running"})
    assert answer.status_code == 302 and "/batches/" in answer.headers["Location"]
    run_batch(web_engine, int(answer.headers["Location"].rsplit("/", 1)[1]))
    assert {inspect.instance(web_engine, case).status for case in cases} == {InstanceStatus.CANCELLED}
    assert "3 done, 0 failed of 3 cases" in owner.get(answer.headers["Location"]).get_data(as_text=True)
