"""What staff read to decide: a task's declared facts, the case data by label and step, lists filtered,
sorted and paged on the server, and inboxes of only the tasks each person may act on (demo cases)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.actors import Actor
from orchestrator.query_filters import InstanceFilter
from tests.web.test_pages import signed_in
from web.auth.demo import seed_demo_users
from web.demo_instances import seed_demo_instances

REPO_ROOT = Path(__file__).resolve().parents[2]
READER = Actor("reader", roles=frozenset({"auditor"}))


@pytest.fixture
def demo_site(app, web_engine):
    """The app with the bundled models, the demo people and the demo cases."""
    web_engine.deployments.deploy_directory(REPO_ROOT / "bpmn", actor=Actor.system("test"))
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    assert len(seed_demo_instances(web_engine)) == 12
    return app


def case_id(engine, business_key: str) -> str:
    [(instance, _)] = engine.queries.list_instances(READER, InstanceFilter(business_key=business_key)).items
    return instance.id


def open_task(engine, business_key: str, element_id: str) -> str:
    return next(t.id for t in engine.queries.open_human_tasks_for(READER, case_id(engine, business_key))
                if t.element_id == element_id)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def section(html: str, css_class: str) -> str:
    start = html.index(f'class="{css_class}')
    return html[start:html.index("</section>", start)] if "card" in css_class else html[start:]


def test_scrap_approval_shows_grade_fault_and_disposition_by_label(demo_site, web_engine):
    page = signed_in(demo_site, "asset.management").get(f"/tasks/{open_task(web_engine, 'RMA-DEMO-5', 'approve_scrap')}")
    facts = text_of(section(page.data.decode(), "card facts"))
    assert "For this decision" in facts
    for shown in ("Grade C – defective, not resellable", "Fault code Electrical failure", "Responsibility Production",
                  "Disposition Recycle / scrap", "Inspection notes Scorched base plate"):
        assert shown in facts, shown
    assert "None" not in facts and "faultCode" not in facts and "F-ELEC" not in facts


def test_countersign_review_shows_each_departments_verdict(demo_site, web_engine):
    page = signed_in(demo_site, "qa").get(f"/tasks/{open_task(web_engine, 'CAPA-DEMO-3', 'review_countersign')}")
    facts = text_of(section(page.data.decode(), "card facts"))
    assert "Root cause Under-rated relay accepted without incoming inspection" in facts
    assert "Ishikawa category Material" in facts
    verdicts = re.findall(r"Verdict (.*?) Comment", facts)[0]
    assert re.findall(r"(\w+) : (Agree|Object)", verdicts) == [("Quality", "Agree"), ("Engineering", "Object")]
    assert "Engineering : The carton spec, not the relay" in facts  # the group by its name, not its code
    assert "countersignVerdict" not in facts and "None" not in facts


def test_case_data_is_labelled_grouped_by_step_and_technical_data_folded(demo_site, web_engine):
    html = signed_in(demo_site, "auditor").get(f"/instances/{case_id(web_engine, 'RMA-DEMO-5')}").data.decode()
    data = html[html.index('class="case-data"'):html.index("</section>", html.index('class="case-data"'))]
    steps = re.findall(r'<h3 class="data-step">([^<]+)</h3>', data)
    assert steps[0] == "When the case was opened" and "Inspect and grade return" in steps
    inspection = data[data.index("Inspect and grade return"):]
    assert "Recycle / scrap" in inspection.split('<h3')[0] and "Grade" in inspection.split('<h3')[0]
    shown = text_of(data[:data.index('class="technical-data"')] if 'class="technical-data"' in data else data)
    assert "Customer keeps item" in shown  # a decision's output, by the decision table's label
    for raw in ("keepItem", "providerMessageId", "None", "rmaState"):
        assert raw not in shown, raw
    technical = data[data.index('class="technical-data"'):]
    assert "<details" in data[data.index('class="technical-data"') - 10:] and " open" not in technical.split(">")[0]


def test_the_auditor_inbox_lists_no_task_and_says_why(demo_site):
    auditor = signed_in(demo_site, "auditor")
    page = auditor.get("/inbox").data.decode()
    assert "/tasks/" not in page and "works on no tasks" in page
    assert auditor.get("/instances").status_code == 200


def test_each_staff_inbox_lists_only_its_groups_tasks(demo_site):
    management = signed_in(demo_site, "management").get("/inbox").data.decode()
    assert "Decide on recall" in management and "Classify and decide" not in management
    admin = signed_in(demo_site, "admin").get("/inbox").data.decode()
    assert "Decide on recall" in admin and "Classify and decide" in admin


def test_case_list_filters_sorts_and_pages(demo_site, web_engine):
    owner = signed_in(demo_site, "owner")
    returns = text_of(owner.get("/instances?process=returns").data.decode())
    assert "RMA-DEMO-7" in returns and "CAPA-DEMO-1" not in returns
    assert "(7)" in returns
    searched = text_of(owner.get("/instances?q=contoso").data.decode())
    assert "RMA-DEMO-4" in searched and "RMA-DEMO-1 " not in searched
    by_key = owner.get("/instances?sort=key&order=asc").data.decode()
    keys = re.findall(r">((?:RMA|CAPA|RC)-DEMO-[\w-]+)</a>", by_key)
    assert keys == sorted(keys) and len(keys) == 12
    descending = re.findall(r">((?:RMA|CAPA|RC)-DEMO-[\w-]+)</a>", owner.get("/instances?sort=key&order=desc").data.decode())
    assert descending == sorted(keys, reverse=True)
    assert 'aria-sort="ascending"' in by_key
    completed = text_of(owner.get("/instances?status=completed").data.decode())
    assert "RMA-DEMO-3" in completed and "RMA-DEMO-1 " not in completed
    assert "No cases." in owner.get("/instances?from=2999-01-01").data.decode()


def test_case_list_pages_with_links(demo_site, monkeypatch):
    monkeypatch.setattr("web.pages.instances.PAGE_SIZE", 5)
    owner = signed_in(demo_site, "owner")
    first = owner.get("/instances?process=returns&sort=key&order=asc").data.decode()
    assert re.findall(r">(RMA-DEMO-\d)</a>", first) == [f"RMA-DEMO-{n}" for n in range(1, 6)]
    assert "page=2" in first and 'rel="next"' in first and "page 1 of 2" in first
    second = owner.get("/instances?process=returns&sort=key&order=asc&page=2").data.decode()
    assert re.findall(r">(RMA-DEMO-\d)</a>", second) == ["RMA-DEMO-6", "RMA-DEMO-7"]


def test_outbox_jobs_and_incidents_lists_filter_sort_and_page(demo_site, monkeypatch):
    auditor = signed_in(demo_site, "auditor")
    outbox = auditor.get("/operations/messages")
    assert outbox.status_code == 200
    total = int(re.search(r"Message outbox</a>.*?<h1>Message outbox <span class=\"muted\">\((\d+)\)", outbox.data.decode(),
                          re.S).group(1))
    assert total >= 3
    email = text_of(auditor.get("/operations/messages?channel=email&q=RMA-DEMO-3").data.decode())
    assert "RMA-DEMO-3" in email and "RMA-DEMO-1 " not in email
    assert "No messages." in auditor.get("/operations/messages?status=bounced").data.decode()
    monkeypatch.setattr("web.operations_pages.PAGE_SIZE", 2)
    paged = auditor.get("/operations/messages?sort=to&order=asc").data.decode()
    assert 'rel="next"' in paged and paged.count("<tr><td>") == 2
    jobs = auditor.get("/operations/jobs?status=completed&sort=topic&order=asc").data.decode()
    topics = re.findall(r"<td><code>([\w.]+)</code></td>", jobs)
    assert topics and topics == sorted(topics)
    assert "No service jobs." in auditor.get("/operations/jobs?status=incident").data.decode()
    assert auditor.get("/operations/jobs?process=capa&q=qms").status_code == 200
    incidents = auditor.get("/operations/incidents?state=all&sort=step").data.decode()
    assert "No incidents." in incidents and "Retry" not in incidents
    clerk = signed_in(demo_site, "customer.service")
    assert clerk.get("/operations/jobs").status_code == 403
