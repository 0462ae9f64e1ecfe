"""The Content-Security-Policy (issue 10) breaks no page in a real browser: Chromium reports no violation,
the case diagram is drawn with its watermark, and Swagger UI starts from its file."""

from __future__ import annotations

from playwright.sync_api import expect

from orchestrator.query_filters import InstanceFilter
from tests.browser.test_return_in_the_browser import READER, sign_in
from web.demo_instances import seed_demo_instances


def _record_violations(page) -> list[str]:
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    return refused


def test_the_pages_run_under_the_policy_without_a_single_violation(live_server, page):
    seed_demo_instances(live_server.engine)
    case, _definition = live_server.engine.queries.list_instances(READER, InstanceFilter()).items[0]
    violations = _record_violations(page)

    sign_in(page, live_server, "auditor")
    for path in ("/inbox", "/instances", "/operations"):
        assert page.goto(live_server(path)).headers["content-security-policy"].startswith("default-src 'self'")

    page.goto(live_server(f"/instances/{case.id}"))
    expect(page.locator("#diagram[data-rendered=true]")).to_have_count(1)
    expect(page.locator("#diagram svg g.djs-element").first).to_be_attached()
    expect(page.locator(".bjs-powered-by")).to_be_visible()  # the bpmn.io watermark stays visible

    page.goto(live_server("/api/docs"))
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=15000)

    assert violations == []
