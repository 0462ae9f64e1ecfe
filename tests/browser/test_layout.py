"""At 1024×768 no box on the operations and case pages is wider than itself (wide tables wrap inside their
box), and the case diagram's +, − and fit buttons change its zoom. Screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_return_in_the_browser import settle, sign_in
from tests.browser.test_time_zones import start_return
from tests.conftest import ADMIN
from tests.support import inspect

# every box whose content could be cut off: cards, sections, table boxes, the two columns, the diagram
CLIPPED_BOXES = """() => {
  const boxes = [document.documentElement, ...document.querySelectorAll(
    'main, main section, main .card, .table-wrap, .two-col > *, .diagram, main pre, .timeline li')];
  const clipped = boxes.filter(box => box.scrollWidth > box.clientWidth + 1)
    .map(box => `${box.tagName.toLowerCase()}.${box.className} ${box.scrollWidth}>${box.clientWidth}`);
  for (const wrap of document.querySelectorAll('.table-wrap')) {
    const table = wrap.querySelector('table');
    if (table && table.getBoundingClientRect().right > wrap.getBoundingClientRect().right + 1) {
      clipped.push(`table in .table-wrap ends past its box`);
    }
  }
  return clipped;
}"""


@pytest.fixture
def case_with_service_jobs(live_server) -> str:
    """A return past its label step: the label's service jobs (long topics, errors) are on its case page."""
    engine = live_server.engine
    instance_id = start_return(live_server, "RMA-LAYOUT-LONG-BUSINESS-KEY-0000000001")
    [label] = inspect.open_tasks(engine, instance_id)
    engine.tasks.complete_user_task(label.id, {"carrier": "dhl", "trackingNumber": "JD0146000019999999999999"},
                                    actor=ADMIN)
    settle(engine, instance_id)
    return instance_id


def test_no_box_overflows_on_the_case_and_operations_pages(live_server, page, case_with_service_jobs,
                                                           screenshot_dir):
    sign_in(page, live_server, "admin")
    page.goto(live_server(f"/instances/{case_with_service_jobs}"))
    expect(page.locator("#diagram[data-rendered]")).to_have_count(1)
    assert page.locator(".table-wrap tbody tr").count() >= 1
    page.screenshot(path=str(screenshot_dir / "layout-case-1024.png"), full_page=True)
    page.locator(".two-col").screenshot(path=str(screenshot_dir / "layout-case-service-jobs-1024.png"))
    assert page.evaluate(CLIPPED_BOXES) == []

    page.goto(live_server("/operations/"))
    expect(page.locator("main h1")).to_have_count(1)
    page.screenshot(path=str(screenshot_dir / "layout-operations-1024.png"), full_page=True)
    assert page.evaluate(CLIPPED_BOXES) == []


def test_the_diagram_zoom_buttons_change_the_zoom(live_server, page, case_with_service_jobs):
    sign_in(page, live_server, "admin")
    page.goto(live_server(f"/instances/{case_with_service_jobs}"))
    diagram = page.locator("#diagram[data-rendered]")
    expect(diagram).to_have_count(1)

    def zoom() -> float:
        return float(diagram.get_attribute("data-zoom"))

    fitted = zoom()
    page.click("[data-zoom-action=in]")
    bigger = zoom()
    assert bigger > fitted
    page.click("[data-zoom-action=in]")
    assert zoom() > bigger
    page.click("[data-zoom-action=out]")
    page.click("[data-zoom-action=out]")
    page.click("[data-zoom-action=out]")
    assert zoom() < fitted
    page.click("[data-zoom-action=fit]")
    assert zoom() == pytest.approx(fitted, rel=0.02)
    assert page.get_attribute("[data-zoom-action=in]", "aria-label") == "Zoom in"


def test_the_error_pages_sit_in_the_site_frame(live_server, chromium_browser, screenshot_dir):
    context = chromium_browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    page = context.new_page()
    try:
        sign_in(page, live_server, "warehouse")
        page.goto(live_server("/inbox"))
        answer = page.goto(live_server("/no/such/page"))
        assert answer.status == 404
        expect(page.locator("main h1")).to_have_text("找不到页面")
        expect(page.locator(".topbar .mainnav")).to_be_visible()
        page.screenshot(path=str(screenshot_dir / "error-404-zh.png"))
        answer = page.goto(live_server("/operations/"))
        assert answer.status == 403
        expect(page.locator("main h1")).to_have_text("无权访问")
        page.click("text=返回收件箱")
        expect(page).to_have_url(live_server("/inbox"))
        assert page.evaluate(CLIPPED_BOXES) == []
    finally:
        context.close()
