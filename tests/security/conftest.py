"""The security ring reuses the web ring's app, engine and per-role API keys (fixtures are found by name), and
shares a waiting claim and an auditor's key."""

from __future__ import annotations

import pytest

from tests.support import inspect
from tests.web.conftest import ApiClient, app, as_, tokens, web_engine  # noqa: F401
from web.auth.apikeys import create_api_key
from web.extensions import db


@pytest.fixture
def claim(as_, web_engine) -> dict[str, str]:  # noqa: F811 (fixtures by name)
    """A refund claim started by the clerk, waiting for a sales manager."""
    started = as_("clerk").post("/api/v1/process-definitions/refund_claim/start",
                                json={"businessKey": "RC-AUDIT", "variables": {"amount": 9000, "customer": "Ada"}})
    assert started.status_code == 201, started.get_json()
    [task] = inspect.open_tasks(web_engine, started.get_json()["id"])
    return {"instance": started.get_json()["id"], "task": task.id}


@pytest.fixture
def auditor_key(app, web_engine) -> ApiClient:  # noqa: F811 (fixtures by name)
    """An auditor key that is also in the task's group: reading is all its role allows, groups or not."""
    with app.app_context():
        token = create_api_key(db.session, "audit-in-group", "auditor", created_by="test", now=web_engine.now(),
                               groups=["sales_manager"]).token
        db.session.commit()
    return ApiClient(app.test_client(), token)

