"""Staff pages without a browser: inbox, task form, start form, case page, admin — each works as plain HTML."""

from __future__ import annotations

import io
import re

import pytest

from orchestrator.models import Attachment, HumanTask
from orchestrator.query_filters import InstanceFilter
from orchestrator.settings import REPO_ROOT
from tests.conftest import ADMIN
from tests.support import inspect
from web.auth.demo import DEMO_PASSWORD, seed_demo_users
from web.extensions import db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
RETURN = {"rmaNumber": "RMA-WEB-1", "intakeSource": "web_form", "customerName": "Grace Hopper",
          "customerEmail": "grace@example.com", "customerPhone": "+447700900123",
          "customerAddress": "1 Navy Way", "orderReference": "SO-77", "customerSegment": "consumer", "sku": "KETTLE-2",
          "lotNumber": "L-7", "purchaseDate": "2026-01-02", "quantity": "1", "returnValue": "80",
          "returnReason": "quality_defect", "requestedOutcome": "refund", "returnChannel": "carrier_parcel"}


@pytest.fixture
def site(app, web_engine):
    """The app with the bundled models deployed and the demo people."""
    web_engine.deployments.deploy_directory(REPO_ROOT / "bpmn", actor=ADMIN)
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    return app


def csrf_of(page: bytes) -> str:
    return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()


def signed_in(app, who: str):
    client = app.test_client()
    token = csrf_of(client.get("/login").data)
    answer = client.post("/login", data={"email": f"{who}@demo.loopline", "password": DEMO_PASSWORD,
                                         "csrf_token": token})
    assert answer.status_code in (200, 302), answer.data[:500]
    client.csrf = csrf_of(client.get("/inbox").data)
    return client


def start_return(client, **changes):
    page = client.get("/new/returns")
    assert page.status_code == 200
    data = {**RETURN, **changes, "csrf_token": client.csrf}
    return client.post("/new/returns", data=data)


def test_anonymous_visitors_are_sent_to_sign_in(site):
    answer = site.test_client().get("/inbox")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_a_return_started_from_the_start_form_lands_in_the_right_inbox(site, web_engine):
    clerk = signed_in(site, "customer.service")
    started = start_return(clerk)
    assert started.status_code == 302
    [instance] = web_engine.queries.list_instances(ADMIN, InstanceFilter()).items
    assert instance[0].business_key == "RMA-WEB-1"
    inbox = clerk.get("/inbox").data.decode()
    assert "Review return request" in inbox and "RMA-WEB-1" in inbox
    assert "Grace Hopper" in inbox and "KETTLE-2" in inbox  # summary fields of the model
    assert "Review return request" not in signed_in(site, "finance").get("/inbox").data.decode()
    searched = clerk.get("/inbox?q=Hopper").data.decode()
    assert "RMA-WEB-1" in searched
    assert "RMA-WEB-1" not in clerk.get("/inbox?q=nobody-by-that-name").data.decode()


def test_bad_start_values_are_shown_next_to_the_field_and_kept(site, web_engine):
    clerk = signed_in(site, "customer.service")
    answer = start_return(clerk, quantity="many", customerName="Kept Name")
    page = answer.data.decode()
    assert answer.status_code == 422
    assert re.search(r'data-field="quantity".*?class="error"[^>]*>must be a whole number', page, re.S)
    assert 'value="Kept Name"' in page
    assert web_engine.queries.list_instances(ADMIN, InstanceFilter()).total == 0


def test_task_form_validates_then_completes_with_a_photo(site, web_engine):
    clerk = signed_in(site, "customer.service")
    start_return(clerk)
    with web_engine.db.reading() as session:
        task = session.query(HumanTask).filter_by(element_id="review_return").one()
    page = clerk.get(f"/tasks/{task.id}")
    assert page.status_code == 200 and 'name="reviewDecision"' in page.data.decode()
    bad = clerk.post(f"/tasks/{task.id}", data={"csrf_token": clerk.csrf, "reviewNote": "kept text"})
    assert bad.status_code == 422
    assert "is required" in bad.data.decode() and "kept text" in bad.data.decode()
    no_token = clerk.post(f"/tasks/{task.id}", data={"reviewDecision": "accept"})
    assert no_token.status_code == 400  # CSRF
    done = clerk.post(f"/tasks/{task.id}", data={"csrf_token": clerk.csrf, "reviewDecision": "accept",
                                                  "after": "next"})
    assert done.status_code == 302
    label_task_url = done.headers["Location"]
    assert "/tasks/" in label_task_url  # straight to my next task of the case
    label_page = clerk.get(label_task_url).data.decode()
    assert "Issue return label" in label_page and 'type="file"' in label_page
    label_task_id = label_task_url.rstrip("/").split("/")[-1]
    wrong_file = clerk.post(f"/tasks/{label_task_id}", content_type="multipart/form-data", data={
        "csrf_token": clerk.csrf, "carrier": "dhl", "trackingNumber": "JD1",
        "returnLabel": (io.BytesIO(b"MZ\x90\x00\x03" + bytes(range(256))), "label.exe")})
    assert wrong_file.status_code == 422 and "file type not allowed" in wrong_file.data.decode()
    with web_engine.db.reading() as session:
        assert session.query(Attachment).count() == 0  # nothing stored for a refused submission
    ok = clerk.post(f"/tasks/{label_task_id}", content_type="multipart/form-data", data={
        "csrf_token": clerk.csrf, "carrier": "dhl", "trackingNumber": "JD1",
        "returnLabel": (io.BytesIO(PNG), "label.png")})
    assert ok.status_code == 302, ok.data.decode()[:2000]
    with web_engine.db.reading() as session:
        stored = session.query(Attachment).one()
    assert stored.content == PNG and stored.content_type == "image/png"
    download = clerk.get(f"/attachments/{stored.id}")
    assert download.data == PNG and download.headers["X-Content-Type-Options"] == "nosniff"
    assert signed_in(site, "finance").get(f"/attachments/{stored.id}").status_code == 404


def test_claim_assign_and_comment(site, web_engine):
    clerk = signed_in(site, "customer.service")
    start_return(clerk)
    with web_engine.db.reading() as session:
        task = session.query(HumanTask).filter_by(element_id="review_return").one()
    clerk.post(f"/tasks/{task.id}/claim", data={"csrf_token": clerk.csrf})
    assert inspect.open_tasks(web_engine, task.instance_id)[0].assignee == "customer.service@demo.loopline"
    assert "Release" in clerk.get("/inbox?view=mine").data.decode()
    clerk.post(f"/tasks/{task.id}/unclaim", data={"csrf_token": clerk.csrf})
    assert inspect.open_tasks(web_engine, task.instance_id)[0].assignee is None
    clerk.post(f"/instances/{task.instance_id}/comments", data={"csrf_token": clerk.csrf,
                                                                "text": "Customer called about it"})
    case_page = clerk.get(f"/instances/{task.instance_id}").data.decode()
    assert "Customer called about it" in case_page and "History verified" in case_page
    assert 'id="diagram-xml"' in case_page and "start_return" in case_page
    finance = signed_in(site, "finance")
    assert finance.get(f"/instances/{task.instance_id}").status_code == 404


def test_saved_filters_with_counts(site):
    clerk = signed_in(site, "customer.service")
    start_return(clerk)
    start_return(clerk, rmaNumber="RMA-WEB-2", customerName="Alan Turing")
    clerk.post("/inbox/filters", data={"csrf_token": clerk.csrf, "name": "Turing cases", "q": "Turing"})
    page = clerk.get("/inbox").data.decode()
    assert re.search(r'Turing cases</a> <span class="count">1</span>', page)
    assert re.search(r'All my work</a> <span class="count">2</span>', page)


def test_language_switch_to_simplified_chinese(site):
    clerk = signed_in(site, "warehouse")
    clerk.post("/language", data={"csrf_token": clerk.csrf, "lang": "zh_Hans_CN", "next": "/inbox"})
    page = clerk.get("/inbox").data.decode()
    assert "收件箱" in page
    english = site.test_client().get("/login", headers={"Accept-Language": "en"}).data.decode()
    chinese = site.test_client().get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).data.decode()
    assert "Sign in" in english and "登录" in chinese


def test_admin_pages_are_for_admins(site):
    admin = signed_in(site, "admin")
    for path in ("/admin/users", "/admin/groups", "/admin/api-keys", "/admin/incidents"):
        assert admin.get(path).status_code == 200, path
    assert signed_in(site, "warehouse").get("/admin/users").status_code == 403
    created = admin.post("/admin/api-keys", data={"csrf_token": admin.csrf, "name": "web-shop", "role": "integration"})
    assert created.status_code == 201 and re.search(r"ll_[0-9a-f]+_", created.data.decode())
    refused = admin.post("/admin/users", data={"csrf_token": admin.csrf, "email": "no-at-sign", "password": "x",
                                               "role": "staff"})
    assert refused.status_code == 422 and "must be an e-mail address" in refused.data.decode()
    added = admin.post("/admin/users", data={"csrf_token": admin.csrf, "email": "new.packer@example.com",
                                             "password": "long-enough-1", "role": "staff", "groups": ["warehouse"]})
    assert added.status_code == 302
    with site.app_context():
        from web.auth.models import User

        assert [g.name for g in db.session.query(User).filter_by(email="new.packer@example.com").one().groups] == [
            "warehouse"]


def test_a_task_goes_only_to_people_of_its_groups(site, web_engine):
    clerk = signed_in(site, "customer.service")
    start_return(clerk)
    with web_engine.db.reading() as session:
        task = session.query(HumanTask).filter_by(element_id="review_return").one()
    clerk.post(f"/tasks/{task.id}/assign", data={"csrf_token": clerk.csrf, "user": "finance@demo.loopline"})
    assert inspect.open_tasks(web_engine, task.instance_id)[0].assignee is None  # finance is not in the group
    clerk.post(f"/tasks/{task.id}/assign", data={"csrf_token": clerk.csrf, "user": "nobody@example.com"})
    assert inspect.open_tasks(web_engine, task.instance_id)[0].assignee is None
    clerk.post(f"/tasks/{task.id}/assign", data={"csrf_token": clerk.csrf, "user": "customer.service@demo.loopline"})
    assert inspect.open_tasks(web_engine, task.instance_id)[0].assignee == "customer.service@demo.loopline"


def test_the_same_rma_cannot_be_started_twice_while_running(site, web_engine):
    clerk = signed_in(site, "customer.service")
    assert start_return(clerk).status_code == 302
    again = start_return(clerk)
    assert again.status_code == 422 and "already in use by a running case" in again.data.decode()
    assert web_engine.queries.list_instances(ADMIN, InstanceFilter()).total == 1


def test_sign_out_needs_the_form_and_ends_the_session(site):
    clerk = signed_in(site, "customer.service")
    assert clerk.post("/logout", data={"csrf_token": clerk.csrf}).status_code in (200, 302)
    assert clerk.get("/inbox").status_code == 302  # back to the login page


def test_page_numbers_beyond_the_end_are_an_empty_page_not_an_error(site):
    clerk = signed_in(site, "customer.service")
    assert clerk.get("/inbox?page=99999999999999999999").status_code == 200
    assert clerk.get("/instances?page=-3").status_code == 200


def test_an_expired_form_gets_a_clear_page(site):
    clerk = signed_in(site, "customer.service")
    answer = clerk.post("/new/returns", data={**RETURN, "csrf_token": "stale"})
    assert answer.status_code == 400 and "nothing was saved" in answer.data.decode()
