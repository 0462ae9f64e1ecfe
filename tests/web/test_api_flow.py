"""An e-commerce client with only an API key and the OpenAPI document files and follows a return."""

from __future__ import annotations

import io
from datetime import timedelta

from tests.conftest import FIXTURES


def path_of(spec: dict, operation_suffix: str) -> str:
    """Find a path in the OpenAPI document, as a client generator would."""
    return next(p for p in spec["paths"] if p.endswith(operation_suffix))


def test_shop_client_runs_a_return_through_the_api(as_):
    shop = as_("shop")
    spec = shop.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    start = path_of(spec, "/process-definitions/{key}/start").replace("{key}", "shop_return")

    created = shop.post(start, json={"businessKey": "RMA-1001", "variables": {"customer": "Ada"}},
                        headers={"Idempotency-Key": "order-1001-return"})
    assert created.status_code == 201, created.get_json()
    instance = created.get_json()
    assert (instance["businessKey"], instance["status"], instance["definitionKey"]) == ("RMA-1001", "running",
                                                                                        "shop_return")
    again = shop.post(start, json={"businessKey": "RMA-1001", "variables": {"customer": "Ada"}},
                      headers={"Idempotency-Key": "order-1001-return"})
    assert again.get_json()["id"] == instance["id"]  # a retried request does not start a second return

    tasks = shop.get("/api/v1/tasks?businessKey=RMA-1001&myGroups=true").get_json()
    assert tasks["total"] == 1
    task_id = tasks["items"][0]["id"]
    detail = shop.get(f"/api/v1/tasks/{task_id}").get_json()
    fields = {f["id"]: f for f in detail["form"]}
    assert fields["quantity"]["type"] == "long" and fields["quantity"]["required"]
    assert fields["quantity"]["constraints"] == {"min": "1"}
    assert [o["id"] for o in fields["reason"]["options"]] == ["no_reason", "defect"]

    bad = shop.post(f"/api/v1/tasks/{task_id}/complete",
                    json={"variables": {"orderNumber": "SO-1", "quantity": "two", "reason": "bored"}})
    assert bad.status_code == 422
    assert bad.content_type == "application/problem+json"
    assert set(bad.get_json()["errors"]) == {"quantity", "reason"}
    assert shop.get(f"/api/v1/instances/{instance['id']}").get_json()["variables"] == {"customer": "Ada"}

    good = shop.post(f"/api/v1/tasks/{task_id}/complete",
                     json={"variables": {"orderNumber": "SO-1", "quantity": 2, "reason": "defect"}})
    assert good.status_code == 200, good.get_json()
    assert good.get_json()["state"] == "completed"
    again = shop.post(f"/api/v1/tasks/{task_id}/complete",
                      json={"variables": {"orderNumber": "SO-1", "quantity": 2, "reason": "defect"}})
    assert again.status_code == 409

    delivered = shop.post("/api/v1/messages", json={"messageName": "ParcelReceived", "businessKey": "RMA-1001",
                                                    "variables": {"carrier": "DHL"}})
    assert delivered.status_code == 200, delivered.get_json()
    assert delivered.get_json() == {"instanceId": instance["id"], "started": False}
    unknown = shop.post("/api/v1/messages", json={"messageName": "ParcelReceived", "businessKey": "RMA-404"})
    assert unknown.status_code == 404 and "RMA-404" in unknown.get_json()["detail"]

    history = shop.get(f"/api/v1/instances/{instance['id']}/history").get_json()
    types = [event["type"] for event in history]
    assert types[0] == "instance_started"
    assert {"task_completed", "message_correlated", "task_created"} <= set(types)
    completed = next(e for e in history if e["type"] == "task_completed")
    assert completed["actor"] == "apikey:shop" and completed["payload"]["values"]["quantity"] == 2


def test_deploy_over_the_api_and_read_the_model(as_):
    owner = as_("owner")
    content = (FIXTURES / "message_start.bpmn").read_bytes()
    response = owner.post("/api/v1/deployments", data={"files": [(io.BytesIO(content),
                                                                  "message_start.bpmn")]},
                          content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    [deployed] = response.get_json()
    assert (deployed["key"], deployed["version"], deployed["new"]) == ("return_by_message", 1, True)
    definition = owner.get("/api/v1/process-definitions/return_by_message").get_json()
    assert definition["startMessages"] == ["ReturnFiled"]
    xml = owner.get("/api/v1/process-definitions/return_by_message/xml")
    assert xml.content_type.startswith("application/xml") and b"return_by_message" in xml.data

    hostile = content.replace(b"<bpmn:definitions", b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><bpmn:definitions", 1)
    rejected = owner.post("/api/v1/deployments", data={"files": [(io.BytesIO(hostile), "evil.bpmn")]},
                          content_type="multipart/form-data")
    assert rejected.status_code == 422
    assert "DOCTYPE" in " ".join(rejected.get_json()["errors"].values())


def test_errors_are_problem_json_and_405_carries_allow(as_):
    admin = as_("admin")
    response = admin.delete("/api/v1/tasks")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert response.content_type == "application/problem+json"
    missing = admin.get("/api/v1/instances/does-not-exist")
    assert (missing.status_code, missing.get_json()["status"]) == (404, 404)
    invalid = admin.get("/api/v1/instances?limit=0")
    assert invalid.status_code == 422 and "limit" in invalid.get_json()["errors"]
    anonymous = as_(None).get("/api/v1/instances")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    forged = as_(None).get("/api/v1/instances", headers={"Authorization": "Bearer ll_nope_nope"})
    assert forged.status_code == 401


def test_health_and_readiness(as_):
    assert as_(None).get("/healthz").get_json() == {"status": "ok"}
    ready = as_(None).get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["database"] == "ok"
    assert as_(None).get("/api/docs").status_code == 200
    docs = as_(None).get("/api/docs").data.decode()
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs  # served locally, no CDN
    assert as_(None).get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_nul_characters_are_refused_before_they_reach_the_database(as_):
    admin = as_("admin")
    body = admin.post("/api/v1/process-definitions/refund_claim/start",
                      json={"businessKey": "RMA\u0000", "variables": {"amount": 1, "customer": "x"}})
    assert body.status_code == 422 and body.content_type == "application/problem+json"
    assert admin.get("/api/v1/instances?businessKey=a%00b").status_code == 422
    assert admin.get("/api/v1/instances").get_json()["total"] == 0


def test_an_expired_api_key_is_refused(as_, clock):
    admin = as_("admin")
    expires = clock.now() + timedelta(hours=1)
    created = admin.post("/api/v1/api-keys", json={"name": "short-lived", "role": "auditor",
                                                   "expiresAt": expires.isoformat()})
    assert created.status_code == 201, created.get_json()
    key = {"Authorization": f"Bearer {created.get_json()['token']}"}
    assert as_(None).get("/api/v1/instances", headers=key).status_code == 200
    clock.advance(minutes=59, seconds=59)
    assert as_(None).get("/api/v1/instances", headers=key).status_code == 200
    clock.advance(seconds=1)
    expired = as_(None).get("/api/v1/instances", headers=key)
    assert expired.status_code == 401 and expired.content_type == "application/problem+json"
    assert expired.headers["WWW-Authenticate"].startswith("Bearer")
    in_the_past = admin.post("/api/v1/api-keys", json={"name": "stillborn", "role": "auditor",
                                                       "expiresAt": clock.now().isoformat()})
    assert in_the_past.status_code == 422 and "expiresAt" in in_the_past.get_json()["errors"]


def test_a_key_revoked_through_the_admin_api_is_refused(as_):
    admin = as_("admin")
    created = admin.post("/api/v1/api-keys", json={"name": "web-shop-2", "role": "integration", "groups": ["shop"]})
    assert created.status_code == 201, created.get_json()
    issued = created.get_json()
    key = {"Authorization": f"Bearer {issued['token']}"}
    started = as_(None).post("/api/v1/process-definitions/shop_return/start", headers=key,
                             json={"businessKey": "RMA-K"})
    assert started.status_code == 201
    listed = {k["name"]: k for k in admin.get("/api/v1/api-keys").get_json()}
    assert listed["web-shop-2"]["revokedAt"] is None and "token" not in listed["web-shop-2"]

    revoked = admin.delete(f"/api/v1/api-keys/{issued['id']}")
    assert revoked.status_code == 200 and revoked.get_json()["revokedAt"] is not None
    for call in (lambda: as_(None).get("/api/v1/instances", headers=key),
                 lambda: as_(None).post("/api/v1/process-definitions/shop_return/start", headers=key,
                                        json={"businessKey": "RMA-K2"})):
        refused = call()
        assert refused.status_code == 401, refused.get_json()
        assert "revoked" in refused.get_json()["detail"]
    assert [i["businessKey"] for i in admin.get("/api/v1/instances").get_json()["items"]] == ["RMA-K"]
    listed = {k["name"]: k for k in admin.get("/api/v1/api-keys").get_json()}
    assert listed["web-shop-2"]["revokedAt"] is not None
    assert as_("shop").get("/api/v1/instances").status_code == 200  # other keys are untouched
