"""The form rules in a real browser: the start form offers an e-mail field, a phone field and no purchase date
after today; what the browser lets through the engine refuses by field, keeping the input; the review shows when
a reason is required. Screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

from playwright.sync_api import expect

from orchestrator.forms import date_limits
from tests.browser.test_return_in_the_browser import PNG, sign_in

INTAKE = {"rmaNumber": "RMA-RULES-1", "orderReference": "SO-4712", "customerName": "Grace Hopper",
          "customerEmail": "grace(at)example", "customerPhone": "12", "customerAddress": "1 Navy Way",
          "sku": "KETTLE-2", "lotNumber": "L-7", "purchaseDate": "2030-01-01", "quantity": "1", "returnValue": "80"}
CHOICES = {"intakeSource": "web_form", "customerSegment": "consumer", "returnReason": "transit_damage",
           "requestedOutcome": "refund", "returnChannel": "carrier_parcel"}


def choose(page, field: str, value: str) -> None:
    radio = page.locator(f"input[name={field}][value={value}]")
    if radio.count():
        radio.check()
    else:
        page.select_option(f"#f-{field}", value)


def test_the_start_form_and_the_review_show_and_keep_the_rules(live_server, page, screenshot_dir, tmp_path):
    limits = date_limits(live_server.engine.now())
    sign_in(page, live_server, "customer.service")
    page.goto(live_server("/new/returns"))
    expect(page.locator("#f-customerEmail")).to_have_attribute("type", "email")
    expect(page.locator("#f-customerPhone")).to_have_attribute("type", "tel")
    expect(page.locator("#f-purchaseDate")).to_have_attribute("max", limits["notFuture"])
    for field, value in INTAKE.items():
        page.fill(f"#f-{field}", value)
    for field, value in CHOICES.items():
        choose(page, field, value)
    photo = tmp_path / "kettle.png"
    photo.write_bytes(PNG)
    page.set_input_files("#f-attachments", str(photo))
    page.click("button:has-text('Start')")  # the form is novalidate: the engine judges
    for field, message in {"customerEmail": "must be an e-mail address", "customerPhone": "international format",
                           "purchaseDate": "must not be in the future"}.items():
        expect(page.locator(f"[data-field={field}] .error")).to_contain_text(message)
    expect(page.locator("#f-customerName")).to_have_value("Grace Hopper")  # the input is kept
    expect(page.locator("[data-field=attachments] .file-again")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "start-form-rules.png"), full_page=True)

    page.fill("#f-customerEmail", "grace@example.com")
    page.fill("#f-customerPhone", "+44 7700 900-123")
    page.fill("#f-purchaseDate", limits["notPast"])
    page.set_input_files("#f-attachments", str(photo))
    page.click("button:has-text('Start')")
    expect(page.locator("h1")).to_have_text("Review return request")
    expect(page.locator("[data-field=rejectionReason] .required-if")).to_contain_text("Reject")
    choose(page, "reviewDecision", "reject")
    page.click("button[value=inbox]")
    expect(page.locator("[data-field=rejectionReason] .error")).to_have_text("is required")
    page.screenshot(path=str(screenshot_dir / "review-reason-required.png"), full_page=True)
