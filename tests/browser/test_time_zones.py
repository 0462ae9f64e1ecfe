"""A person in Shanghai reads every time in Shanghai time with the zone named; a profile setting overrides
the browser's zone. Screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.browser.test_return_in_the_browser import settle, sign_in
from tests.conftest import ADMIN
from web.time_display import absolute_text

RETURN = {"rmaNumber": "RMA-TZ-1", "intakeSource": "web_form", "customerName": "Grace Hopper",
          "customerEmail": "grace@example.com", "customerPhone": "+447700900123", "customerAddress": "1 Navy Way",
          "orderReference": "SO-77", "customerSegment": "consumer", "sku": "KETTLE-2", "lotNumber": "L-7",
          "purchaseDate": "2026-10-01", "quantity": 1, "returnValue": 80, "returnReason": "no_reason",
          "requestedOutcome": "refund", "returnChannel": "carrier_parcel"}
LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? CST$")


def start_return(live_server, business_key: str) -> str:
    engine = live_server.engine
    instance = engine.instances.start_instance("returns", actor=ADMIN, business_key=business_key,
                                               variables={**RETURN, "rmaNumber": business_key})
    settle(engine, instance.id)
    return instance.id


def times_shown(page, scope: str = "main") -> list[tuple[str, str, str]]:
    """(text, datetime attribute, title) of every <time> in the scope."""
    return page.eval_on_selector_all(f"{scope} time", "els => els.map(e => [e.textContent, e.dateTime, e.title])")


def assert_shanghai(shown: list[tuple[str, str, str]]) -> None:
    assert shown, "no times on the page"
    for text, stamp, title in shown:
        assert LOCAL_TIME.match(text), text
        assert stamp.endswith("Z") and title == "Asia/Shanghai (UTC+08:00)"
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert text == absolute_text(moment, ZoneInfo("Asia/Shanghai"), "second" if text.count(":") == 2 else "minute")


def test_a_browser_in_shanghai_sees_shanghai_time_on_the_inbox_and_the_case(live_server, chromium_browser,
                                                                            screenshot_dir):
    context = chromium_browser.new_context(viewport={"width": 1024, "height": 768}, timezone_id="Asia/Shanghai",
                                           locale="zh-CN")
    page = context.new_page()
    try:
        instance_id = start_return(live_server, "RMA-TZ-1")
        sign_in(page, live_server, "customer.service")  # the sign-in page tells the server the browser's zone
        page.goto(live_server("/inbox"))
        expect(page.locator("main h1")).to_contain_text("收件箱")
        expect(page.locator(".topbar a.zone")).to_have_text("Asia/Shanghai")
        row = page.locator("tr", has_text="RMA-TZ-1")
        expect(row).to_have_count(1)
        assert_shanghai(times_shown(page, "tr[data-task]"))
        page.screenshot(path=str(screenshot_dir / "time-zone-inbox-shanghai.png"), full_page=True)

        page.goto(live_server(f"/instances/{instance_id}"))
        expect(page.locator("#diagram[data-rendered]")).to_have_count(1)
        shown = times_shown(page)
        assert len(shown) >= 3  # started, timeline events
        assert_shanghai(shown)
        main_text = page.inner_text("main")
        assert "+00:00" not in main_text and not re.search(r"\d\d:\d\d:\d\d\.\d{6}", main_text)
        assert re.search(r"\d+(分钟|小时|秒钟|天)前", main_text)  # relative times in Chinese
        page.screenshot(path=str(screenshot_dir / "time-zone-case-shanghai.png"), full_page=True)
    finally:
        context.close()


def test_the_profile_zone_wins_over_the_browser(live_server, chromium_browser, screenshot_dir):
    context = chromium_browser.new_context(viewport={"width": 1024, "height": 768}, timezone_id="Asia/Shanghai",
                                           locale="en-GB")
    page = context.new_page()
    try:
        start_return(live_server, "RMA-TZ-2")
        sign_in(page, live_server, "customer.service")
        page.click(".topbar a.zone")
        expect(page.locator("main h1")).to_have_text("Profile")
        expect(page.locator("#time-zone option").first).to_contain_text("Asia/Shanghai")
        page.select_option("#time-zone", "Europe/Berlin")
        page.click("button:has-text('Save')")
        expect(page.locator(".flash")).to_contain_text("Europe/Berlin")
        page.screenshot(path=str(screenshot_dir / "profile-time-zone.png"), full_page=True)
        page.goto(live_server("/inbox"))
        expect(page.locator(".topbar a.zone")).to_have_text("Europe/Berlin")
        texts = [text for text, _, _ in times_shown(page, "tr[data-task]")]
        assert texts and all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d CES?T$", text) for text in texts), texts
        page.goto(live_server("/profile"))
        page.select_option("#time-zone", "")  # back to the browser's zone
        page.click("button:has-text('Save')")
        page.goto(live_server("/inbox"))
        expect(page.locator(".topbar a.zone")).to_have_text("Asia/Shanghai")
    finally:
        context.close()
