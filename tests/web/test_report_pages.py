"""The printable reports as pages and PDFs: who may read them, what they say (the PDF's text read back with
pypdf), a report of another process is a clear 404, and a Chinese reader gets the model's Chinese labels."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from tests.processes.driver import Run
from tests.processes.test_capa import ROOT_CAUSE, classify, countersign, through_problem
from tests.processes.test_capa import start as start_capa
from tests.processes.test_recall_effectiveness import (  # noqa: F401 - recall_engine is a fixture
    CASE,
    _terminate,
    acknowledge,
    notified_class_two_recall,
    recall_engine,
    settle_rma,
)
from tests.processes.test_returns import LABEL
from tests.processes.test_returns import start as start_return
from web.app import create_app
from web.auth.demo import DEMO_PASSWORD, seed_demo_users
from web.auth.users import ensure_roles_and_groups
from web.extensions import db
from web.reports.codes import code39_data_uri, qr_data_uri

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}


@pytest.fixture
def site(recall_engine):  # noqa: F811
    """The bundled models on the built-in connectors (recall figures really counted), the app, the demo people."""
    app = create_app(recall_engine.settings, recall_engine)
    app.config["TESTING"] = True
    with app.app_context():
        ensure_roles_and_groups(app.extensions["security"].datastore)
        seed_demo_users(app.extensions["security"].datastore)
    yield recall_engine, app
    with app.app_context():
        db.engine.dispose()


def signed_in(app, email: str, headers: dict | None = None):
    client = app.test_client()
    login = client.get("/login", headers=headers or {})
    csrf = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', login.data).group(1).decode()
    answer = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": csrf},
                         headers=headers or {})
    assert answer.status_code in (200, 302), answer.data[:500]
    return client


def pdf_text(answer) -> str:
    assert answer.status_code == 200, answer.data[:500]
    assert answer.mimetype == "application/pdf" and answer.data.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.data)).pages)
    return re.sub(r"\s+", " ", text)


def squeezed(text: str) -> str:
    """Chinese text read back from a PDF comes with spaces (or NULs) between the characters."""
    return re.sub(r"[\s\x00]+", "", text)


def reviewed_capa(engine) -> Run:
    run = start_capa(engine)
    classify(run)
    through_problem(run, quarantine=False)
    run.complete("analyse_root_cause", ROOT_CAUSE)
    countersign(run, {"qa": "agree", "engineering": "object", "management": "agree", "legal": "agree"})
    run.complete("review_countersign", {"rootCauseConfirmed": True})
    return run


def returned(engine, **changes) -> Run:
    run = start_return(engine, **changes)
    run.complete("review_return", {"reviewDecision": "accept"})
    run.complete("issue_return_label", LABEL)
    return run


def terminated_recall(engine, clock) -> Run:
    run = notified_class_two_recall(engine)
    for recipient in ("CUST-881", "CUST-883"):
        acknowledge(engine, recipient, "repair", 1)
        settle_rma(run, f"RMA-{CASE}-{recipient}", {"grade": "B", "faultCode": "F-ELEC",
                                                     "responsibility": "supplier", "disposition": "refurbish"})
    for _ in range(3):
        clock.advance(days=3, seconds=1)
        engine.timers.fire_due_timers()
        run.run_jobs()
    run.complete("call_non_responders", {"partnersReached": 2, "stillUnreachable": 0})
    _terminate(run, clock, checks=[2])
    run.run_jobs("request_termination")
    run.complete("record_authority_decision", {"authorityDecision": "terminated", "authorityReference": "MS-77/2",
                                               "authorityDecisionDate": "2026-03-20"})
    run.run_jobs("close_recall_case", "request_root_cause_capa")
    return run


def test_the_8d_report_page_and_pdf(site):
    engine, app = site
    run = reviewed_capa(engine)
    manager = signed_in(app, "management@demo.loopline")
    page = manager.get(f"/instances/{run.id}/reports/8d")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("8D report: CAPA-AUD-2026-03", "D1 Team", "5-Why chain", ROOT_CAUSE["why5"], "Countersignatures",
                 "engineering-user", "Material", "Not done yet."):
        assert text in html, text
    assert f'href="/instances/{run.id}/reports/8d?format=pdf"' in html
    answer = manager.get(f"/instances/{run.id}/reports/8d?format=pdf")
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="8d-report-CAPA-AUD-2026-03.pdf"')
    text = pdf_text(answer)
    for expected in ("8D report: CAPA-AUD-2026-03", "D2 Problem description (5W2H)", "Relay welds shut",
                     ROOT_CAUSE["rootCause"], "Object", "Legal", "Grace (QA)"):
        assert expected in text, expected
    case_page = manager.get(f"/instances/{run.id}").get_data(as_text=True)
    assert f'href="/instances/{run.id}/reports/8d"' in case_page and "recall-status" not in case_page


def test_the_recall_reports_show_the_counted_figures(site, clock):
    engine, app = site
    run = terminated_recall(engine, clock)
    auditor = signed_in(app, "auditor@demo.loopline")
    status = pdf_text(auditor.get(f"/instances/{run.id}/reports/recall-status?format=pdf"))
    total = run.variables["recallProgress"]["total"]
    assert f"Consignees notified {run.variables['recallProgress']['trade']['notified']} " in status
    for expected in ("Recall status report: RC-2026-014", "Consignees responding", "Units corrected",
                     f"Units corrected 0 2 {int(total['corrected'])}", "e-mail, SMS",
                     "6. Estimated time frame for completion", "2 consignees checked, 2 checks passed"):
        assert expected in status, expected
    summary = pdf_text(auditor.get(f"/instances/{run.id}/reports/recall-termination?format=pdf"))
    for expected in ("Recall termination summary: RC-2026-014", "Class II", "First notice sent", "MS-77/2",
                     "Recall terminated", "Mixed", "All units accounted for", "CAPA-"):
        assert expected in summary, expected
    page = auditor.get(f"/instances/{run.id}/reports/recall-termination").get_data(as_text=True)
    assert "Final effectiveness figures" in page
    case_page = auditor.get(f"/instances/{run.id}").get_data(as_text=True)
    assert f"/instances/{run.id}/reports/recall-status" in case_page
    assert f"/instances/{run.id}/reports/recall-termination" in case_page


def test_the_return_slip_for_the_clerk_who_works_the_case(site):
    engine, app = site
    run = returned(engine)
    clerk = signed_in(app, "customer.service@demo.loopline")  # the return's tasks are theirs
    page = clerk.get(f"/instances/{run.id}/reports/return-slip").get_data(as_text=True)
    assert qr_data_uri("RMA-1001") in page and code39_data_uri("RMA-1001") in page  # both codes carry the number
    text = pdf_text(clerk.get(f"/instances/{run.id}/reports/return-slip?format=pdf"))
    for expected in ("Return slip: RMA-1001", "Ada Lovelace", "12 Analytical Row, London", "K2-000913",
                     "Quality defect", "DHL", "JD0140000001"):
        assert expected in text, expected


def test_who_may_read_which_report(site, tokens_for_site):
    engine, app = site
    run = returned(engine)
    warehouse = signed_in(app, "warehouse@demo.loopline")  # no task of this return yet: it may not see the case
    assert warehouse.get(f"/instances/{run.id}/reports/return-slip").status_code == 404
    assert warehouse.get(f"/instances/{run.id}/reports/return-slip?format=pdf").status_code == 404
    manager = signed_in(app, "management@demo.loopline")
    assert manager.get(f"/instances/{run.id}/reports/return-slip").status_code == 200
    wrong = manager.get(f"/instances/{run.id}/reports/8d")
    assert wrong.status_code == 404 and "This case has no 8D report" in wrong.get_data(True)
    unknown = manager.get(f"/instances/{run.id}/reports/balance-sheet")
    assert unknown.status_code == 404 and "There is no report called balance-sheet." in unknown.get_data(True)
    assert manager.get(f"/instances/{run.id}/reports/return-slip?format=docx").status_code == 400
    anonymous = app.test_client().get(f"/instances/{run.id}/reports/return-slip")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_the_api_answers_pdfs_and_problems(site, tokens_for_site):
    engine, app = site
    run = returned(engine)
    client = app.test_client()

    def get(persona, path):
        headers = {"Authorization": f"Bearer {tokens_for_site[persona]}"} if persona else {}
        return client.get(path, headers=headers)

    answer = get("auditor", f"/api/v1/instances/{run.id}/reports/return-slip")
    assert "RMA-1001" in pdf_text(answer)
    assert 'filename="return-slip-RMA-1001.pdf"' in answer.headers["Content-Disposition"]
    for persona, path, status in (
            ("auditor", f"/api/v1/instances/{run.id}/reports/8d", 404),
            ("auditor", f"/api/v1/instances/{run.id}/reports/nothing", 404),
            ("auditor", "/api/v1/instances/no-such-case/reports/return-slip", 404),
            ("packer", f"/api/v1/instances/{run.id}/reports/return-slip", 404),
            (None, f"/api/v1/instances/{run.id}/reports/return-slip", 401)):
        refused = get(persona, path)
        assert refused.status_code == status, (persona, path, refused.data[:300])
        assert refused.mimetype == "application/problem+json"
    assert "not of returns" in get("auditor", f"/api/v1/instances/{run.id}/reports/8d").get_json()["detail"]


def test_a_chinese_reader_gets_chinese_labels(site):
    engine, app = site
    run = returned(engine)
    reader = signed_in(app, "management@demo.loopline", CHINESE)
    page = reader.get(f"/instances/{run.id}/reports/return-slip", headers=CHINESE).get_data(as_text=True)
    text = squeezed(pdf_text(reader.get(f"/instances/{run.id}/reports/return-slip?format=pdf", headers=CHINESE)))
    for chinese in ("客户姓名", "序列号", "承运商"):  # the model's labels in Chinese (bpmn/returns.zh.json)
        assert chinese in page, chinese
        assert chinese in text, chinese
    assert "Customer name" not in page


@pytest.fixture
def tokens_for_site(site):
    from web.auth.apikeys import create_api_key
    engine, app = site
    with app.app_context():
        issued = {name: create_api_key(db.session, name, role, created_by="test", now=engine.now(),
                                       groups=groups).token
                  for name, (role, groups) in {"auditor": ("auditor", []),
                                               "packer": ("staff", ["warehouse"])}.items()}
        db.session.commit()
    return issued
