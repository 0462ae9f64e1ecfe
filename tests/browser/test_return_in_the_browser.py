"""A return worked by people in a real browser: start form, inboxes per group, a refused then accepted
form with a photo, and the case page with the path taken. Screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from orchestrator.actors import Actor
from orchestrator.models import JobStatus
from orchestrator.query_filters import InstanceFilter

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")
CARRIER = Actor("apikey:carrier", roles=frozenset({"integration"}))
READER = Actor("auditor", roles=frozenset({"auditor"}))


def sign_in(page, live_server, who: str) -> None:
    page.context.clear_cookies()
    page.goto(live_server("/login"))
    page.fill("input[name=email]", f"{who}@demo.loopline")
    page.fill("input[name=password]", live_server.password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    expect(page.locator(".who")).to_have_text(f"{who}@demo.loopline")


def settle(engine, instance_id: str) -> None:
    """Wait until the in-process worker has run the case's service jobs."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not engine.queries.jobs_of(READER, instance_id, JobStatus.PENDING) and not engine.queries.jobs_of(READER, instance_id, JobStatus.RUNNING):
            return
        time.sleep(0.1)
    raise AssertionError(f"jobs of {instance_id} did not finish: {engine.queries.jobs_of(READER, instance_id)}")


def no_horizontal_scroll(page) -> bool:
    """Neither the page nor any table box scrolls sideways (a cut-off column counts as a failure)."""
    return page.evaluate("""() => document.documentElement.scrollWidth <= window.innerWidth &&
        [...document.querySelectorAll('.table-wrap')].every(box => box.scrollWidth <= box.clientWidth + 1)""")


def test_a_return_from_start_form_to_inspection(live_server, page, screenshot_dir, tmp_path):
    engine = live_server.engine
    sign_in(page, live_server, "customer.service")
    page.click("summary:has-text('New')")
    page.click("text=Return / take-back (RMA)")
    page.fill("#f-rmaNumber", "RMA-BROWSER-1")
    page.select_option("#f-intakeSource", "web_form") if page.locator("select#f-intakeSource").count() else \
        page.check("input[name=intakeSource][value=web_form]")
    for field, value in {"orderReference": "SO-4711", "customerName": "Grace Hopper",
                         "customerEmail": "grace@example.com", "customerPhone": "+447700900123",
                         "customerAddress": "1 Navy Way", "sku": "KETTLE-2", "lotNumber": "L-7",
                         "purchaseDate": "2026-10-01", "quantity": "1", "returnValue": "80"}.items():
        page.fill(f"#f-{field}", value)
    for field, value in {"customerSegment": "consumer", "returnReason": "no_reason", "requestedOutcome": "refund",
                         "returnChannel": "carrier_parcel"}.items():
        radio = page.locator(f"input[name={field}][value={value}]")
        if radio.count():
            radio.check()
        else:
            page.select_option(f"#f-{field}", value)
    page.click("button:has-text('Start')")
    expect(page.locator("h1")).to_have_text("Issue return label")  # straight to my next task of the case
    instance_id = engine.queries.list_instances(READER, InstanceFilter(business_key="RMA-BROWSER-1")).items[0][0].id
    page.select_option("#f-carrier", "dhl") if page.locator("select#f-carrier").count() else \
        page.check("input[name=carrier][value=dhl]")
    page.fill("#f-trackingNumber", "JD014600001")
    page.click("button[value=inbox]")
    expect(page).to_have_url(re.compile(r"/inbox"))
    settle(engine, instance_id)

    # the carrier reports the parcel (the API's message correlation, by RMA number)
    engine.messages.correlate_message("ParcelReceived", actor=CARRIER, business_key="RMA-BROWSER-1",
                             variables={"carrierScan": "delivered"})

    sign_in(page, live_server, "finance")
    page.goto(live_server("/inbox"))
    expect(page.locator("table.tasks")).not_to_contain_text("RMA-BROWSER-1")

    sign_in(page, live_server, "warehouse")
    page.goto(live_server("/inbox"))
    row = page.locator("tr", has_text="RMA-BROWSER-1")
    expect(row).to_contain_text("Record parcel receipt")
    expect(row).to_contain_text("Grace Hopper")  # the case's summary fields
    expect(row.locator(".badge")).to_have_text(re.compile("on time|due soon"))
    page.screenshot(path=str(screenshot_dir / "inbox-warehouse.png"), full_page=True)
    assert no_horizontal_scroll(page)

    row.locator("a", has_text="Record parcel receipt").click()
    page.fill("#f-receivedQuantity", "-3")
    page.fill("#f-receiptNote", "box dented on one corner")
    page.click("button[value=next]")
    quantity = page.locator("[data-field=receivedQuantity]")
    expect(quantity.locator(".error")).to_have_text(re.compile("at least 0"))
    expect(page.locator("[data-field=parcelCondition] .error")).to_have_text("is required")
    expect(page.locator("#f-receiptNote")).to_have_value("box dented on one corner")  # input kept
    expect(page.locator("#f-receivedQuantity")).to_have_value("-3")
    expect(quantity.locator(".hint")).to_contain_text("Count the units")  # the model's help text
    page.screenshot(path=str(screenshot_dir / "task-form-errors.png"), full_page=True)
    assert no_horizontal_scroll(page)

    condition = page.locator("input[name=parcelCondition]").first
    if condition.count():
        condition.check()
    else:
        page.select_option("#f-parcelCondition", index=1)
    page.fill("#f-receivedQuantity", "1")
    page.check("#f-serialNumberMatches")
    page.click("button[value=next]")
    expect(page.locator("h1")).to_have_text("Inspect and grade return")
    photo = tmp_path / "kettle.png"
    photo.write_bytes(PNG)
    page.set_input_files("#f-inspectionPhotos", str(photo))
    for field in ("grade", "faultCode", "responsibility", "disposition"):
        radios = page.locator(f"input[name={field}]")
        if radios.count():
            radios.first.check()
        else:
            page.select_option(f"#f-{field}", index=1)
    page.screenshot(path=str(screenshot_dir / "task-form-inspection.png"), full_page=True)
    page.click("button[value=inbox]")
    expect(page).to_have_url(re.compile(r"/inbox"))
    settle(engine, instance_id)
    attachments = engine.attachments.attachments_of(READER, instance_id)
    assert [a.filename for a in attachments] == ["kettle.png"] and attachments[0].content_type == "image/png"

    page.goto(live_server(f"/instances/{instance_id}"))
    expect(page.locator("#diagram[data-rendered=true]")).to_have_count(1)
    for element in ("start_return", "issue_return_label", "receive_parcel", "inspect_return"):
        expect(page.locator(f"g.djs-element.ll-passed[data-element-id={element}]")).to_have_count(1)
    expect(page.locator(".bjs-powered-by")).to_have_count(1)  # the bpmn.io watermark stays visible
    expect(page.locator(".timeline")).to_contain_text("task completed")
    expect(page.locator("a", has_text="kettle.png").first).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "instance-page.png"), full_page=True)


@pytest.mark.parametrize("path", ["/inbox", "/instances", "/new/returns", "/new/capa", "/admin/users",
                                  "/admin/api-keys", "/operations/"])
def test_pages_fit_1024_and_work_without_javascript(live_server, chromium_browser, path):
    context = chromium_browser.new_context(viewport={"width": 1024, "height": 768}, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server, "admin")
        response = page.goto(live_server(path))
        assert response.status == 200
        assert no_horizontal_scroll(page)
        assert page.locator("main h1").count() >= 1
    finally:
        context.close()


def test_a_case_worked_end_to_end_without_javascript(live_server, chromium_browser):
    """Start a CAPA from its start form and complete its first task, with scripting switched off."""
    context = chromium_browser.new_context(viewport={"width": 1024, "height": 768}, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server, "qa")
        page.goto(live_server("/new/capa"))
        page.select_option("#f-source", "audit") if page.locator("select#f-source").count() else \
            page.check("input[name=source][value=audit]")
        page.fill("#f-sourceReference", "AUD-9")
        page.fill("#f-sku", "KETTLE-2")
        page.fill("#f-problemSummary", "Relay batch out of spec")
        page.click("button:has-text('Start')")
        expect(page.locator(".flash.info").first).to_contain_text("started")
        assert page.locator("main h1").count() == 1
    finally:
        context.close()
