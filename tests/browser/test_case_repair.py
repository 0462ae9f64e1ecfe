"""A stuck case repaired in a real browser: the customer's e-mail address is bad, so the e-mail job stops at an
incident that a retry alone cannot clear. The process owner opens the case, corrects the address with a reason,
saves with "Retry the incident after saving", and the case goes on; the timeline says who changed what and why.
Screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_return_in_the_browser import no_horizontal_scroll, sign_in
from tests.browser.test_undecided_messages import reload_until, wait_for_incident
from tests.conftest import ADMIN
from tests.web.test_case_operations import BAD_EMAIL, GOOD_EMAIL, deploy_tell_customer

CASE = "RMA-REPAIR-1"
WHY = "Customer phoned: the address had a typo"


def test_a_process_owner_corrects_a_bad_address_and_the_case_goes_on(live_server, page, screenshot_dir):
    engine, shots = live_server.engine, screenshot_dir
    deploy_tell_customer(engine)
    instance = engine.instances.start_instance("tell_customer", actor=ADMIN, business_key=CASE, variables={
        "customerEmail": BAD_EMAIL, "customerName": "Grace Hopper", "rmaNumber": CASE})
    wait_for_incident(engine, instance.id)

    sign_in(page, live_server, "owner")
    page.goto(live_server(f"/instances/{instance.id}"))
    incidents = page.locator("section.card.alert")
    expect(incidents).to_contain_text("not an e-mail address")
    incidents.locator("a[href='#repair']").click()
    form = page.locator("#repair form")
    expect(form).to_be_visible()
    row = form.locator("tr[data-variable=customerEmail]")
    expect(row).to_contain_text("customerEmail")
    expect(row.locator("textarea")).to_have_value(BAD_EMAIL)
    row.locator("textarea").fill(GOOD_EMAIL)
    form.locator("#repair-comment").fill(WHY)
    expect(form.locator("input[name=retry]")).to_be_checked()
    page.screenshot(path=str(shots / "case-repair-1-edit.png"), full_page=True)
    assert no_horizontal_scroll(page)

    form.locator("button", has_text="Save the changes").click()
    expect(page.locator(".flash.info").first).to_have_text("The case's data was changed.")
    open_tasks = page.locator("section.card", has=page.locator("h2", has_text="Open tasks")).locator("ul").first
    reload_until(page, lambda: "Follow up" in open_tasks.inner_text())
    expect(incidents).to_have_count(0)
    edited = page.locator(".timeline li.ev-variables_edited")
    expect(edited).to_have_count(1)
    expect(edited).to_contain_text("case data changed by hand")
    expect(edited).to_contain_text("owner@demo.loopline")
    expect(edited).to_contain_text(f"Why: {WHY}")
    expect(edited.locator(".old-value")).to_have_text(BAD_EMAIL)
    expect(edited.locator(".new-value")).to_have_text(GOOD_EMAIL)
    expect(page.locator(".timeline li.ev-job_completed")).to_have_count(1)
    edited.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "case-repair-2-after.png"), full_page=True)
    assert no_horizontal_scroll(page)
