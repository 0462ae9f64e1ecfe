"""The browser ring itself works: chromium reaches the live server and the vendored viewer is served."""

from __future__ import annotations

import urllib.request


def test_login_page_renders_in_chromium(live_server, page, screenshot_dir):
    response = page.goto(live_server("/login"))
    assert response is not None and response.status == 200
    email = page.locator("input[name=email]")
    assert email.count() == 1
    assert email.first.get_attribute("type") in ("email", "text")
    page.screenshot(path=str(screenshot_dir / "smoke-login.png"), full_page=True)
    assert (screenshot_dir / "smoke-login.png").stat().st_size > 0


def test_bpmn_viewer_is_served_from_local_static_files(live_server):
    with urllib.request.urlopen(live_server("/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")) as r:
        assert r.status == 200
        assert b"bpmn-navigated-viewer" in r.read(200)


def test_demo_person_signs_in_with_the_demo_password(live_server, page):
    page.goto(live_server("/login"))
    page.fill("input[name=email]", "warehouse@demo.loopline")
    page.fill("input[name=password]", live_server.password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")  # submits the sign-in form, whatever else the page holds
    assert page.context.request.get(live_server("/api/v1/tasks")).status == 200  # the session cookie works
