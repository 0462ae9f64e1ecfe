"""An auditor reads everything and changes nothing: every door that writes (the API, the pages, Camunda's
external-task protocol) answers 403 and stores nothing, and a new door cannot be added without this test
saying whether an auditor may use it."""

from __future__ import annotations

import pytest

from tests.security.test_roles import DRAFT, database_fingerprint, sign_in, write_requests
from tests.support import inspect
from web.auth.apikeys import create_api_key
from web.extensions import db

# doors that change no record of a case, a model or a person other than the caller; why, for each
NOT_RECORD_DOORS = {
    "security.login": "signing in",
    "security.logout": "signing out",
    "security.verify": "re-entering one's own password",
    "i18n.switch_language": "the caller's own page language",
    "profile.save_profile": "the caller's own time zone and language",
    "inbox.save_filter": "the caller's own saved inbox filter",
    "inbox.delete_filter": "the caller's own saved inbox filter",
    "traceability.scope": "computes a recall scope from the request, stores nothing (a query sent as POST)",
    "ack.ack_submit": "a recipient's signed one-time link, not a signed-in person",
    "recall_pages.register": "a buyer's registration on the public recall page: anyone may send it, signed in or not",
    "webhooks.sendgrid_events": "the provider, checked by its signature",
    "webhooks.twilio_status": "the provider, checked by its signature",
}
EXTERNAL_TASK = "00000000-0000-0000-0000-000000000001"


def write_endpoints(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if rule.methods & {"POST", "PUT", "PATCH", "DELETE"}}


def endpoint_of(app, method: str, path: str) -> str:
    return app.url_map.bind("localhost").match(path.split("?")[0], method=method.upper())[0]


def page_posts(claim: dict[str, str], incident: int, key_id: int, user_id: int) -> list[tuple[str, dict]]:
    """Every form post of the pages that changes a record, with fields a person allowed to would send."""
    case = claim["instance"]
    return [
        (f"/instances/{case}/comments", {"text": "The auditor was here"}),
        (f"/incidents/{incident}/retry", {}),
        (f"/instances/{case}/variables", {"name": "amount", "value.amount": "1", "original.amount": "number:9000",
                                          "kind.amount": "number", "comment": "The auditor was here"}),
        (f"/instances/{case}/cancel", {"reason": "The auditor was here"}),
        (f"/instances/{case}/suspend", {}),
        (f"/instances/{case}/resume", {}),
        (f"/instances/{case}/messages", {"message": "ParcelReceived"}),
        (f"/instances/{case}/signals", {"signal": "Hold shipments"}),
        (f"/instances/{case}/move-token", {"from_element": "approve", "kind": "skip",
                                          "comment": "The auditor was here"}),
        (f"/tasks/{claim['task']}/claim", {}),
        (f"/tasks/{claim['task']}/unclaim", {}),
        (f"/tasks/{claim['task']}/assign", {"user": "audra@example.com"}),
        (f"/tasks/{claim['task']}", {"approved": "true"}),
        ("/new/refund_claim", {"amount": "10", "customer": "Ada"}),
        ("/operations/messages/no-such-message/decision", {"decision": "sent"}),
        ("/admin/users", {"email": "new@example.com", "password": "a-long-enough-password-1", "roles": "admin"}),
        (f"/admin/users/{user_id}/active", {}),
        (f"/admin/users/{user_id}/groups", {"groups": "finance"}),
        ("/admin/groups", {"name": "auditors-own-group"}),
        ("/admin/api-keys", {"name": "minted", "role": "admin"}),
        (f"/admin/api-keys/{key_id}/revoke", {}),
        ("/modeler/new", {"key": "auditor_process", "name": "The auditor's process"}),
        ("/modeler/open", {"key": "refund_claim"}),
        (f"/modeler/drafts/{DRAFT}/save", {"content": "<x/>"}),
        (f"/modeler/drafts/{DRAFT}/validate", {}),
        (f"/modeler/drafts/{DRAFT}/deploy", {}),
        (f"/modeler/drafts/{DRAFT}/delete", {}),
        ("/processes/refund_claim/migrate", {"from": "1", "to": "2"}),
        ("/batches", {"kind": "cancel", "reason": "The auditor was here", "process": "refund_claim"}),
        ("/imports", {"kind": "sales_volumes"}),
        ("/imports/1/start", {"valid_rows_only": "1"}),
        ("/imports/1/discard", {}),
    ]


def external_task_calls() -> list[tuple[str, dict]]:
    """Camunda 7's external-task protocol, as a worker library would call it, and its signal resource."""
    worker = {"workerId": "audit-worker"}
    base = f"/engine-rest/external-task/{EXTERNAL_TASK}"
    return [
        ("/engine-rest/external-task/fetchAndLock",
         {**worker, "maxTasks": 1, "topics": [{"topicName": "erp.refund", "lockDuration": 1000}]}),
        (f"{base}/complete", {**worker, "variables": {}}),
        (f"{base}/failure", {**worker, "errorMessage": "x", "retries": 0, "retryTimeout": 0}),
        (f"{base}/bpmnError", {**worker, "errorCode": "E"}),
        (f"{base}/extendLock", {**worker, "newDuration": 1000}),
        (f"{base}/unlock", {}),
        ("/engine-rest/signal", {"name": "Hold shipments"}),
    ]


@pytest.fixture
def incident_and_key(app, web_engine, ledger):
    from tests.conftest import ADMIN

    row = web_engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 10, "customer": "c"})
    ledger.script("test.refund", "business:E_NOT_CAUGHT")
    assert inspect.run_pending_jobs(web_engine, row.id) == ["incident"]
    [incident] = web_engine.queries.open_incidents(ADMIN, instance_id=row.id)
    with app.app_context():
        key_id = create_api_key(db.session, "spare", "integration", created_by="test", now=web_engine.now()).key.id
        db.session.commit()
    return incident.id, key_id


def test_every_write_door_is_either_refused_to_an_auditor_here_or_named_as_no_record(app, claim, incident_and_key):
    incident, key_id = incident_and_key
    tried = ({endpoint_of(app, method, path) for method, path, _ in write_requests(claim, incident, key_id)}
             | {endpoint_of(app, "post", path) for path, _ in page_posts(claim, incident, key_id, 1)}
             | {endpoint_of(app, "post", path) for path, _ in external_task_calls()})
    assert not tried & set(NOT_RECORD_DOORS)
    assert write_endpoints(app) == tried | set(NOT_RECORD_DOORS)  # a new door must be added to one or the other


def test_an_auditor_is_refused_with_403_at_every_door_and_nothing_changes(
        app, web_engine, claim, incident_and_key, auditor_key):
    incident, key_id = incident_and_key
    auditor = sign_in(app, "audra@example.com", ("auditor",), ("sales_manager",))
    with app.app_context():
        user_id = app.extensions["security"].datastore.find_user(email="audra@example.com").id
    before = database_fingerprint(web_engine)

    answers = {}
    for method, path, kwargs in write_requests(claim, incident, key_id):
        answers[f"API {method.upper()} {path}"] = getattr(auditor_key, method)(path, **kwargs).status_code
    for path, data in external_task_calls():
        answers[f"external task POST {path}"] = auditor_key.post(path, json=data).status_code
    for path, data in page_posts(claim, incident, key_id, user_id):
        answer = auditor.post(path, data={"csrf_token": auditor.csrf, **data})
        answers[f"page POST {path}"] = answer.status_code

    assert answers == {door: 403 for door in answers}
    assert database_fingerprint(web_engine) == before
    with app.app_context():
        me = app.extensions["security"].datastore.find_user(email="audra@example.com")
        assert me.active and {role.name for role in me.roles} == {"auditor"}  # not even on themselves
    # reading still works, at the same doors
    assert auditor.get(f"/instances/{claim['instance']}").status_code == 200
    assert auditor_key.get(f"/api/v1/instances/{claim['instance']}/history").status_code == 200


def test_a_refused_form_says_why_on_a_403_page(app, web_engine, claim):
    auditor = sign_in(app, "audra@example.com", ("auditor",), ("sales_manager",))
    answer = auditor.post(f"/instances/{claim['instance']}/comments",
                          data={"csrf_token": auditor.csrf, "text": "The auditor was here"})
    page = answer.data.decode()
    assert answer.status_code == 403 and "Your role does not allow this; nothing was changed." in page
