"""The heatmap page and API, the at-risk list and the inbox's "Likely late" badge: readers of reports see them,
staff are refused, unknown processes and versions are 404."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from orchestrator.definitions import ModelFile
from orchestrator.element_stats import bucket_of, bucket_seconds
from orchestrator.metric_models import ElementStat
from orchestrator.models import HumanTask, HumanTaskState, ProcessDefinition
from orchestrator.settings import REPO_ROOT
from tests.conftest import ADMIN
from tests.web.test_pages import RETURN, signed_in
from web.auth.apikeys import create_api_key
from web.auth.demo import seed_demo_users
from web.extensions import db

THREE_DAYS = bucket_of(3 * 86400)
TEN_MINUTES = bucket_of(600)


@pytest.fixture
def site(app, web_engine):
    """The bundled models, the demo people, one return waiting at its review (due in a day) whose step took
    about three days in 25 past cases: predicted late."""
    web_engine.deployments.deploy_directory(REPO_ROOT / "bpmn", actor=ADMIN)
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    case = web_engine.instances.start_instance("returns", actor=ADMIN, variables=RETURN)
    with web_engine.db.transaction() as session:
        returns = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == "returns"))
        task = session.scalar(select(HumanTask).where(HumanTask.instance_id == case.id,
                                                      HumanTask.state == HumanTaskState.READY))
        assert task.due_at is not None
        for element_id, bucket, passes, overdue in (("review_return", THREE_DAYS, 25, 20),
                                                    ("issue_return_label", TEN_MINUTES, 10, 0),
                                                    ("review_return>issue_return_label", -1, 8, 0)):
            session.add(ElementStat(definition_id=returns, element_id=element_id, bucket=bucket, shard=7,
                                    passes=passes, overdue=overdue, seconds=passes * bucket_seconds(bucket)))
    app.config["RISKY_TASK"] = {"id": task.id, "groups": task.candidate_groups, "business_key": case.business_key}
    return app


READERS = ("owner", "management", "auditor")


@pytest.mark.parametrize("who", READERS)
def test_readers_of_reports_see_the_heatmap_and_the_tasks_at_risk(site, who):
    client = signed_in(site, who)
    page = client.get("/processes/returns/versions/1/heatmap")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="heatmap-data"' in html and 'id="diagram-xml"' in html and "heatmap.js" in html
    row = html.split('data-element="review_return"')[1].split("</tr>")[0]
    assert 'data-figure="passes">25<' in row and 'data-figure="overdue">80 %<' in row
    median = bucket_seconds(THREE_DAYS) / 86400
    assert f'data-figure="median">{median:.1f} d<' in row
    assert 'data-flow="review_return&gt;issue_return_label"' in html
    risky = site.config["RISKY_TASK"]
    listing = client.get("/dashboards/at-risk")
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert f'data-task="{risky["id"]}" data-state="at-risk"' in text and "Likely late" in text
    assert risky["business_key"] in text


def test_staff_are_refused_and_unknown_versions_are_not_found(site):
    staff = signed_in(site, "customer.service")
    assert staff.get("/processes/returns/versions/1/heatmap").status_code == 403
    assert staff.get("/dashboards/at-risk").status_code == 403
    owner = signed_in(site, "owner")
    assert owner.get("/processes/returns/versions/99/heatmap").status_code == 404
    assert owner.get("/processes/no_such_process/versions/1/heatmap").status_code == 404
    assert owner.get(f"/processes/returns/versions/{2**40}/heatmap").status_code == 404


def test_the_version_page_links_the_heatmap(site, web_engine):
    html = signed_in(site, "owner").get("/processes/returns/versions/1").get_data(as_text=True)
    assert 'href="/processes/returns/versions/1/heatmap"' in html
    text = (REPO_ROOT / "bpmn" / "returns.bpmn").read_text(encoding="utf-8")
    web_engine.deployments.deploy([ModelFile("returns.bpmn", text.replace('name="Review return request"',
                                                                          'name="Review the request"'))],
                                  actor=ADMIN)
    owner = signed_in(site, "owner")
    v2 = owner.get("/processes/returns/versions/2/heatmap").get_data(as_text=True)
    assert 'href="/processes/returns/versions/1/heatmap">v1</a>' in v2 and '<b aria-current="page">v2</b>' in v2
    assert 'data-element="review_return"' not in v2  # the figures are the version's own
    assert 'data-figure="passes">25<' in owner.get("/processes/returns/versions/1/heatmap").get_data(as_text=True)


def test_the_inbox_says_likely_late(site):
    risky = site.config["RISKY_TASK"]
    group = risky["groups"][0]
    html = signed_in(site, group.replace("_", ".")).get("/inbox").get_data(as_text=True)
    row = html.split(f'data-task="{risky["id"]}"')[1].split("</tr>")[0]
    assert "Likely late" in row and "Predicted to be done" in row


@pytest.fixture
def manager_token(site, web_engine):
    with site.app_context():
        token = create_api_key(db.session, "mgmt", "manager", created_by="test", now=web_engine.now()).token
        db.session.commit()
    return token


def test_the_api_answers_readers_and_refuses_staff(site, as_, manager_token):
    path = "/api/v1/processes/returns/versions/1/heatmap"
    for who in ("owner", "auditor"):
        answer = as_(who).get(path)
        assert answer.status_code == 200, answer.data
        body = answer.get_json()
        review = next(e for e in body["elements"] if e["elementId"] == "review_return")
        assert review["passes"] == 25 and review["overdueShare"] == pytest.approx(0.8)
        assert review["medianSeconds"] == pytest.approx(bucket_seconds(THREE_DAYS))
        flow = next(f for f in body["flows"] if f["flowId"] == "review_return>issue_return_label")
        assert flow == {"flowId": "review_return>issue_return_label", "source": "review_return",
                        "target": "issue_return_label", "passes": 8, "share": 8.0}  # one case on v1
    client = site.test_client()
    headers = {"Authorization": f"Bearer {manager_token}"}
    assert client.get(path, headers=headers).status_code == 200
    at_risk = client.get("/api/v1/tasks/at-risk", headers=headers)
    assert at_risk.status_code == 200
    risky = site.config["RISKY_TASK"]
    [found] = [t for t in at_risk.get_json()["items"] if t["taskId"] == risky["id"]]
    assert found["atRisk"] is True and found["overdue"] is False and found["predictedAt"] > found["dueAt"]
    for refused in (as_("clerk").get(path), as_("clerk").get("/api/v1/tasks/at-risk")):
        assert refused.status_code == 403 and refused.content_type == "application/problem+json"
    assert as_("owner").get("/api/v1/processes/returns/versions/9/heatmap").status_code == 404
    assert as_("owner").get("/api/v1/processes/nothing/versions/1/heatmap").status_code == 404
    assert as_(None).get(path).status_code == 401


def test_a_task_already_due_is_overdue_not_likely_late(site, web_engine):
    risky = site.config["RISKY_TASK"]
    forecasts = {f.task_id: f for f in web_engine.heatmaps.at_risk(ADMIN, web_engine.now() + timedelta(days=2)).items}
    assert forecasts[risky["id"]].overdue and not forecasts[risky["id"]].at_risk


def test_the_tasks_at_risk_come_in_pages(site, web_engine, monkeypatch):
    second = web_engine.instances.start_instance("returns", actor=ADMIN, variables={**RETURN, "rmaNumber": "RMA-WEB-2"})
    monkeypatch.setattr("web.pages.heatmap.AT_RISK_PAGE", 1)
    client = signed_in(site, "management")
    first_page = client.get("/dashboards/at-risk").get_data(as_text=True)
    last_page = client.get("/dashboards/at-risk?page=2").get_data(as_text=True)
    assert first_page.count('data-state="at-risk"') == 1 and last_page.count('data-state="at-risk"') == 1
    assert 'rel="next"' in first_page and "page 1 of 2" in first_page and 'rel="prev"' in last_page
    assert second.business_key in first_page + last_page and site.config["RISKY_TASK"]["business_key"] in (
        first_page + last_page)
    api = client.get("/api/v1/tasks/at-risk?limit=1&offset=1").get_json()
    assert api["total"] == 2 and len(api["items"]) == 1 and api["limit"] == 1


def test_the_tasks_at_risk_download_as_csv_and_xlsx(site):
    risky = site.config["RISKY_TASK"]
    client = signed_in(site, "management")
    assert "/dashboards/at-risk.xlsx" in client.get("/dashboards/at-risk").get_data(as_text=True)
    csv_answer = client.get("/dashboards/at-risk.csv")
    assert csv_answer.headers["Content-Type"] == "text/csv; charset=utf-8"  # the charset named once
    csv_text = csv_answer.get_data(as_text=True)
    [row] = [line for line in csv_text.splitlines() if risky["business_key"] in line]
    assert "Review return request" in row and "Likely late" in row
    xlsx = client.get("/dashboards/at-risk.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    sheet = load_workbook(io.BytesIO(xlsx.data), read_only=True).worksheets[0]
    assert any(risky["business_key"] in [str(cell) for cell in row] for row in sheet.iter_rows(values_only=True))
    assert signed_in(site, "customer.service").get("/dashboards/at-risk.csv").status_code == 403
