"""The public recall page in Chromium: a recall driven to notification on the embedded server, read in English
and Chinese without signing in, a buyer registering through the form, and the QR code that opens the page."""

from __future__ import annotations

from playwright.sync_api import expect

from integrations.recall_registrations import count_for, page_id_for
from integrations.traceability.models import TraceEvent
from tests.browser.test_return_in_the_browser import sign_in
from tests.processes.driver import Run
from tests.processes.test_recall import SIGNAL, evaluate_hazard, strategy
from tests.processes.test_recall_real_connectors import TRACE
from tests.support.waiting import wait_for
from web.recall_form_guard import MIN_SECONDS


def notified_recall(engine) -> Run:
    """A recall of the real model on the built-in connectors, its strategy approved (the notices go out)."""
    with engine.db.transaction() as session:
        session.add_all(TraceEvent(**event) for event in TRACE)
    run = Run.start(engine, "recall", SIGNAL, business_key="RC-BROWSER-1")

    def open_task(element_id: str):
        return lambda: element_id in run.open_task_ids()

    wait_for(open_task("assess_hazard_quality"), what="the hazard assessments (QMS ticket opened)")
    evaluate_hazard(run)
    wait_for(open_task("decide_recall"), what="the recall decision")
    run.complete("decide_recall", {"recallClass": "I", "decisionRationale": "Burns are likely"})
    wait_for(open_task("define_strategy"), what="the strategy (scope computed from the trace data)")
    strategy(run)
    run.complete("approve_strategy", {"strategyApproved": True})
    return run


def _violations(page) -> list[str]:
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    return refused


def test_a_buyer_reads_the_notice_registers_and_finds_the_qr_code(live_server, page, screenshot_dir):
    engine = live_server.engine
    run = notified_recall(engine)
    with engine.db.transaction() as session:
        public_id = page_id_for(session, run.id, engine.now())
    violations = _violations(page)

    page.goto(live_server(f"/recalls/{public_id}?lang=en"))
    expect(page.locator("h1")).to_have_text("Product safety recall: Kettle 2 (KETTLE-2)")
    expect(page.locator(".urgent")).to_be_visible()
    expect(page.locator("table")).to_contain_text("L-7")
    assert page.locator(".share img").evaluate("img => img.complete && img.naturalWidth > 100")  # the QR code drew
    expect(page.locator("#website")).not_to_be_in_viewport()  # the honeypot stays out of sight
    page.screenshot(path=str(screenshot_dir / "public-recall-page-en.png"), full_page=True)

    page.fill("#name", "Grace Hopper")
    page.fill("#email", "grace@example.com")
    page.fill("#lot", "L-7")
    page.fill("#quantity", "2")
    page.check("input[name=remedy][value=refund]")
    page.fill("#note", "Bought at the Saturday market")
    page.wait_for_timeout(MIN_SECONDS * 1000 + 200)  # a person takes longer than the spam check allows
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Thank you, your product is registered")
    page.screenshot(path=str(screenshot_dir / "public-recall-page-registered.png"), full_page=True)
    with engine.db.reading() as session:
        assert count_for(session, run.id) == 1

    page.goto(live_server(f"/recalls/{public_id}"))
    page.fill("#name", "Too quick")
    page.fill("#email", "bot@example.com")
    page.fill("#quantity", "1")
    page.check("input[name=remedy][value=repair]")
    page.click("button[type=submit]")  # at once: refused, input kept
    expect(page.locator("p.error[role=alert]")).to_contain_text("very soon after the page opened")
    expect(page.locator("#name")).to_have_value("Too quick")
    with engine.db.reading() as session:
        assert count_for(session, run.id) == 1

    chinese = page.context.browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    try:
        zh = chinese.new_page()
        zh_violations = _violations(zh)
        zh.goto(live_server(f"/recalls/{public_id}"))  # the browser's language, no parameter
        expect(zh.locator("html")).to_have_attribute("lang", "zh-Hans")
        expect(zh.locator("nav.languages a[aria-current]")).to_have_text("中文")
        expect(zh.locator("h1")).to_contain_text("产品安全召回")
        zh.screenshot(path=str(screenshot_dir / "public-recall-page-zh.png"), full_page=True)
        assert zh_violations == []
    finally:
        chinese.close()

    sign_in(page, live_server, "qa")  # staff find the link, the QR code and the registration on the case
    page.goto(live_server(f"/recalls/case/{run.id}"))
    expect(page.locator("main")).to_contain_text(f"{live_server.url}/recalls/{public_id}")
    expect(page.locator("main")).to_contain_text("1 registration(s), 2 unit(s) reported.")
    expect(page.locator("tbody tr")).to_have_count(1)
    page.screenshot(path=str(screenshot_dir / "public-recall-staff-view.png"), full_page=True)
    assert violations == []
    # Chromium's own viewer of a bare image styles itself inline, which the site's policy reports: not our page
    qr = page.goto(live_server(f"/recalls/{public_id}/qr.png"))
    assert qr.headers["content-type"] == "image/png"
    page.screenshot(path=str(screenshot_dir / "public-recall-qr.png"))
