"""A task command through the API (complete, claim, unclaim, assign) is one engine call in one transaction,
answered from what it committed."""

from __future__ import annotations

from tests.support.transactions import count_transactions


def _started_task(client, business_key: str) -> dict:
    """Start a shop return through the API and return its first open task as the API lists it."""
    created = client.post("/api/v1/process-definitions/shop_return/start",
                          json={"businessKey": business_key, "variables": {"customer": "Ada"}})
    assert created.status_code == 201, created.get_json()
    [task] = client.get(f"/api/v1/tasks?businessKey={business_key}").get_json()["items"]
    return task


def test_an_api_task_completion_opens_one_engine_transaction(as_, web_engine, monkeypatch):
    shop = as_("shop")
    task = _started_task(shop, "RMA-CALLS")

    opened = count_transactions(web_engine, monkeypatch)
    done = shop.post(f"/api/v1/tasks/{task['id']}/complete",
                     json={"variables": {"orderNumber": "SO-9", "quantity": 1, "reason": "defect"}})
    assert done.status_code == 200, done.get_json()
    assert opened == ["write"]  # no second transaction, no read-back, no polling
    body = done.get_json()
    assert (body["state"], body["variables"]["orderNumber"], body["definitionKey"]) == ("completed", "SO-9",
                                                                                        "shop_return")


def test_claim_unclaim_and_assign_answer_from_their_one_transaction(as_, web_engine, monkeypatch):
    shop = as_("shop")
    task = _started_task(shop, "RMA-HANDS")

    opened = count_transactions(web_engine, monkeypatch)
    claimed = shop.post(f"/api/v1/tasks/{task['id']}/claim")
    assert claimed.status_code == 200, claimed.get_json()
    me = claimed.get_json()["assignee"]
    assert (opened, me) == (["write"], "apikey:shop")

    opened.clear()
    released = shop.post(f"/api/v1/tasks/{task['id']}/unclaim")
    assert released.status_code == 200, released.get_json()
    assert (opened, released.get_json()["assignee"]) == (["write"], None)

    opened.clear()
    assigned = shop.post(f"/api/v1/tasks/{task['id']}/assign", json={"user": me})
    assert assigned.status_code == 200, assigned.get_json()
    assert (opened, assigned.get_json()["assignee"], assigned.get_json()["definitionKey"]) == (
        ["write"], me, "shop_return")
