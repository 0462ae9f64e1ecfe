"""Issue 10, item 7: the auditor changes nothing anywhere and sees no live secret; an integration key reads
only the cases it started.

Found: an auditor posted a comment (it went into the case's hash-chained history), an auditor saw the live
`/ack/<token>` links of recall recipients on the operations page, and an integration key with a group read
cases it did not start (through its group's tasks), though the README says integrations read only their own.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, table
from sqlalchemy import inspect as inspect_schema

from orchestrator.actors import Actor
from orchestrator.errors import Forbidden, NotFound
from orchestrator.models import ProcessInstance
from tests.conftest import ADMIN, FIXTURES
from tests.support import inspect
from web.auth.apikeys import create_api_key
from web.auth.users import create_user, ensure_roles_and_groups
from web.extensions import db

PASSWORD = "quiet-lantern-harbour-71"
AUDITOR_IN_GROUP = Actor("apikey:audit-in-group", groups=frozenset({"sales_manager"}), roles=frozenset({"auditor"}))
ACK_LINK = "https://recall.example/ack/eyJuIjoiYWJjIn0.Zx1.live-signature"
DRAFT = 1  # a modeler draft id: the role is refused before the draft is looked up


def database_fingerprint(engine) -> dict[str, int]:
    """Rows in every table, plus the sum of instance versions (every command bumps one)."""
    with engine.db.reading() as session:
        names = inspect_schema(session.get_bind()).get_table_names()
        counts = {name: session.scalar(select(func.count()).select_from(table(name))) for name in names}
        counts["instance versions"] = session.scalar(select(func.coalesce(func.sum(ProcessInstance.version), 0)))
    return counts


def sign_in(app, email: str, roles: tuple[str, ...], groups: tuple[str, ...]):
    """A browser session of a new person; `client.csrf` holds the form token."""
    with app.app_context():
        datastore = app.extensions["security"].datastore
        ensure_roles_and_groups(datastore)
        create_user(datastore, email, PASSWORD, roles=roles, groups=groups)
    client = app.test_client()
    token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").data).group(1).decode()
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code in (200, 302)
    client.csrf = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', client.get("/inbox").data).group(1).decode()
    return client


def batch_requests(case: str) -> list[tuple[str, str, dict]]:
    """Batch operations and the migration dry run (which stores nothing, but only case managers may ask)."""
    return [
        ("post", "/api/v1/batches", {"json": {"kind": "cancel", "instanceIds": [case],
                                              "parameters": {"reason": "The auditor was here"}}}),
        ("post", "/api/v1/migrations/dry-run", {"json": {"processKey": "refund_claim", "fromVersion": 1,
                                                         "toVersion": 2}}),
    ]


def modeler_requests() -> list[tuple[str, str, dict]]:
    """The modeler API's writes (drafts are a process owner's own, but they deploy models)."""
    draft = f"/api/v1/modeler/drafts/{DRAFT}"
    return [
        ("post", "/api/v1/modeler/drafts", {"json": {"source": "deployed", "key": "refund_claim"}}),
        ("put", draft, {"json": {"content": "<x/>"}}),
        ("delete", draft, {}),
        ("post", f"{draft}/validate", {}),
        ("post", f"{draft}/deploy", {}),
    ]


def write_requests(claim: dict[str, str], incident: int, key_id: int) -> list[tuple[str, str, dict]]:
    """Every API operation that changes something, with a body it would accept from a role allowed to."""
    model = (FIXTURES / "message_start.bpmn").read_bytes()
    return [
        ("post", "/api/v1/deployments", {"data": {"files": [(io.BytesIO(model), "m.bpmn")]},
                                         "content_type": "multipart/form-data"}),
        ("post", "/api/v1/process-definitions/refund_claim/start", {"json": {"variables": {"amount": 1,
                                                                                           "customer": "x"}}}),
        ("post", f"/api/v1/instances/{claim['instance']}/cancel", {"json": {"reason": "audit"}}),
        ("post", f"/api/v1/instances/{claim['instance']}/suspend", {}),
        ("post", f"/api/v1/instances/{claim['instance']}/resume", {}),
        ("patch", f"/api/v1/instances/{claim['instance']}/variables", {"json": {"comment": "audit",
                                                                                "values": {"amount": 1}}}),
        ("post", f"/api/v1/instances/{claim['instance']}/move-token", {"json": {
            "fromElement": "approve", "kind": "skip", "comment": "audit"}}),
        ("post", f"/api/v1/tasks/{claim['task']}/claim", {}),
        ("post", f"/api/v1/tasks/{claim['task']}/unclaim", {}),
        ("post", f"/api/v1/tasks/{claim['task']}/assign", {"json": {"user": "apikey:manager"}}),
        ("post", f"/api/v1/tasks/{claim['task']}/complete", {"json": {"variables": {"approved": True}}}),
        ("post", "/api/v1/messages", {"json": {"messageName": "ParcelReceived", "businessKey": "RC-AUDIT"}}),
        ("post", "/api/v1/signals", {"json": {"name": "Hold shipments"}}),
        ("post", f"/api/v1/incidents/{incident}/retry", {}),
        ("post", "/api/v1/api-keys", {"json": {"name": "minted", "role": "admin"}}),
        ("delete", f"/api/v1/api-keys/{key_id}", {}),
        ("post", "/api/v1/quality-events", {"json": {"kind": "complaint", "reference": "CMP-AUDIT", "sku": "KETTLE-2",
                                                     "faultCode": "F-ELEC", "occurredAt": "2026-01-05T09:00:00Z"}}),
        ("post", "/api/v1/trace-events", {"json": {"events": [{"kind": "object",
                                                                "eventTime": "2026-01-05T09:00:00Z"}]}}),
        *batch_requests(claim["instance"]),
        *modeler_requests(),
        *import_requests(),
    ]


def import_requests() -> list[tuple[str, str, dict]]:
    """Spreadsheet imports: the upload (a preview, stored) and the start of an import."""
    sales = b"sku,month,units\nKETTLE-2,2026-01,10\n"
    return [
        ("post", "/api/v1/imports", {"data": {"kind": "sales_volumes", "file": (io.BytesIO(sales), "sales.csv")},
                                     "content_type": "multipart/form-data"}),
        ("post", "/api/v1/imports/1/start", {"json": {"validRowsOnly": True}}),
    ]


def test_every_write_operation_of_the_api_refuses_an_auditor_and_stores_nothing(
        app, as_, web_engine, ledger, claim, auditor_key):
    row = web_engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 10, "customer": "c"})
    ledger.script("test.refund", "business:E_NOT_CAUGHT")
    assert inspect.run_pending_jobs(web_engine, row.id) == ["incident"]
    [incident] = web_engine.queries.open_incidents(ADMIN, instance_id=row.id)
    with app.app_context():
        key_id = create_api_key(db.session, "spare", "integration", created_by="test", now=web_engine.now()).key.id
        db.session.commit()
    requests = write_requests(claim, incident.id, key_id)
    documented = {(method, path) for path, operations in as_("admin").get("/api/openapi.json").get_json()[
        "paths"].items() for method in operations if method in ("post", "put", "patch", "delete")
                  and path != "/api/v1/recall-scope"}
    assert len(documented) == len(requests)  # every documented write is tried (recall-scope only computes)

    before = database_fingerprint(web_engine)
    answers = {path: getattr(auditor_key, method)(path, **kwargs).status_code for method, path, kwargs in requests}
    assert answers == {path: 403 for _method, path, _kwargs in requests}
    assert database_fingerprint(web_engine) == before
    assert auditor_key.get(f"/api/v1/instances/{claim['instance']}").status_code == 200  # reading still works
    assert auditor_key.get("/healthz").status_code == 200


def test_the_engine_refuses_an_auditor_whatever_door_and_groups(web_engine, claim):
    """The checks live in the commands, so the CLI, Celery or a new page cannot forget them."""
    before = database_fingerprint(web_engine)
    for command in (lambda: web_engine.comments.add_comment(claim["instance"], "a note", actor=AUDITOR_IN_GROUP),
                    lambda: web_engine.tasks.claim_task(claim["task"], actor=AUDITOR_IN_GROUP),
                    lambda: web_engine.tasks.unclaim_task(claim["task"], actor=AUDITOR_IN_GROUP),
                    lambda: web_engine.tasks.assign_task(claim["task"], "apikey:manager", actor=AUDITOR_IN_GROUP),
                    lambda: web_engine.tasks.complete_user_task(claim["task"], {"approved": True}, actor=AUDITOR_IN_GROUP),
                    lambda: web_engine.instances.start_instance("refund_claim", actor=AUDITOR_IN_GROUP),
                    lambda: web_engine.messages.correlate_message("ParcelReceived", actor=AUDITOR_IN_GROUP, business_key="x"),
                    lambda: web_engine.instances.cancel_instance(claim["instance"], actor=AUDITOR_IN_GROUP)):
        with pytest.raises(Forbidden):
            command()
    assert database_fingerprint(web_engine) == before


def test_an_auditor_cannot_comment_or_work_a_task_on_the_pages(app, web_engine, claim):
    auditor = sign_in(app, "audra@example.com", ("auditor",), ("sales_manager",))
    case_url = f"/instances/{claim['instance']}"
    case_page = auditor.get(case_url).data.decode()
    assert "Add comment" not in case_page and "History verified" in case_page  # reads it, no comment form
    task_page = auditor.get(f"/tasks/{claim['task']}").data.decode()
    assert "You may not work on this task." in task_page and ">Claim</button>" not in task_page

    before = database_fingerprint(web_engine)
    posts = [(f"{case_url}/comments", {"text": "The auditor was here"}),
             (f"/tasks/{claim['task']}/claim", {}),
             (f"/tasks/{claim['task']}/assign", {"user": "audra@example.com"}),
             (f"/tasks/{claim['task']}", {"approved": "true"})]
    for path, data in posts:
        refused = auditor.post(path, data={"csrf_token": auditor.csrf, "next": case_url, **data})
        assert refused.status_code == 403, path
        assert "Your role does not allow this; nothing was changed." in refused.data.decode(), path
    assert database_fingerprint(web_engine) == before
    assert "comment_added" not in [e.type for e in inspect.history(web_engine, claim["instance"])]

    manager = sign_in(app, "mia@example.com", ("staff",), ("sales_manager",))  # the same posts work for staff
    manager.post(f"{case_url}/comments", data={"csrf_token": manager.csrf, "text": "Checked the receipt"})
    assert [e.payload["text"] for e in inspect.history(web_engine, claim["instance"])
            if e.type == "comment_added"] == ["Checked the receipt"]


def test_the_operations_page_masks_ack_links_for_an_auditor(app, web_engine):
    from integrations.notify.models import Notification

    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    with app.app_context():
        db.session.add(Notification(
            id="n" * 32, idempotency_key="ack-1", channel="email", recipient_id="P1", recipient_name="Ada",
            address="ada@example.com", language="en", template="recall_notice", subject="Recall",
            body=f"Please confirm: {ACK_LINK}\nThank you.", status="sent", ack_message="RecallAcknowledged",
            created_at=now, updated_at=now))
        db.session.commit()
    token = ACK_LINK.rsplit("/", 1)[1]

    audited = sign_in(app, "audra@example.com", ("auditor",), ()).get("/operations/")
    assert audited.status_code == 200
    assert token not in audited.data.decode()
    assert "https://recall.example/ack/[token]" in audited.data.decode()
    owned = sign_in(app, "owen@example.com", ("process_owner",), ()).get("/operations/")
    assert token in owned.data.decode()  # may send messages into processes: the link is no secret from them


def test_an_integration_key_reads_only_the_instances_it_started(as_, web_engine):
    """The shop key is in the `shop` group; the admin's return has a task for that group."""
    shop = as_("shop")
    others = as_("admin").post("/api/v1/process-definitions/shop_return/start",
                               json={"businessKey": "RMA-ADMIN", "variables": {"customer": "Bo"}}).get_json()
    mine = shop.post("/api/v1/process-definitions/shop_return/start",
                     json={"businessKey": "RMA-SHOP", "variables": {"customer": "Ada"}}).get_json()
    [other_task] = inspect.open_tasks(web_engine, others["id"])
    [my_task] = inspect.open_tasks(web_engine, mine["id"])
    assert other_task.candidate_groups == ["shop"]

    assert [i["businessKey"] for i in shop.get("/api/v1/instances").get_json()["items"]] == ["RMA-SHOP"]
    assert [t["businessKey"] for t in shop.get("/api/v1/tasks").get_json()["items"]] == ["RMA-SHOP"]
    assert [t["businessKey"] for t in shop.get("/api/v1/tasks?myGroups=true").get_json()["items"]] == ["RMA-SHOP"]
    for path in (f"/api/v1/instances/{others['id']}", f"/api/v1/instances/{others['id']}/history",
                 f"/api/v1/tasks/{other_task.id}"):
        assert shop.get(path).status_code == 404, path  # hidden looks the same as missing
    before = database_fingerprint(web_engine)
    for action in ("claim", "complete"):
        assert shop.post(f"/api/v1/tasks/{other_task.id}/{action}", json={}).status_code == 404
    assert database_fingerprint(web_engine) == before

    shop_actor = Actor("apikey:shop", groups=frozenset({"shop"}), roles=frozenset({"integration"}))
    with pytest.raises(NotFound):
        web_engine.case_views.case_view(shop_actor, others["id"])  # the case page's single read, too
    assert web_engine.case_views.case_view(shop_actor, mine["id"]).instance.business_key == "RMA-SHOP"

    assert shop.get(f"/api/v1/tasks/{my_task.id}").status_code == 200  # its own case's task: its to work
    done = shop.post(f"/api/v1/tasks/{my_task.id}/complete",
                     json={"variables": {"orderNumber": "SO-1", "quantity": 1, "reason": "defect"}})
    assert done.status_code == 200, done.get_json()
    assert as_("auditor").get(f"/api/v1/instances/{others['id']}").status_code == 200  # auditors read all
