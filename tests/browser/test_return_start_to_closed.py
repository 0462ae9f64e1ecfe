"""A return walked in chromium from the start form (with a photo) to closed, every person through the pages.

Customer service starts it for a Chinese-speaking customer (`customerLanguage` = zh) with a photo attached and
reviews it, issues the label; the carrier's scan arrives through the REST API with an integration key the admin
made on the API-keys page; the warehouse records the receipt, QA inspects (supplier's fault, back to the
supplier), the warehouse prepares the supplier return; the ERP refund and the CRM close run on the in-process
worker. At the end the case page says completed and lists the photo, and every notice the customer got — read
from the outbox rows and seen on Operations → Messages — is in Chinese. Screenshots: test-artifacts/screenshots.
"""

from __future__ import annotations

import json
import re
import struct
import time
import urllib.request
import zlib

from playwright.sync_api import expect
from sqlalchemy import select

from integrations.notify.models import Notification
from orchestrator.actors import Actor
from orchestrator.models import JobStatus
from orchestrator.query_filters import InstanceFilter
from tests.browser.test_return_in_the_browser import sign_in
from tests.support.waiting import wait_for

RMA = "RMA-ZH-WALK-1"
CUSTOMER = "王小明"
READER = Actor("auditor", roles=frozenset({"auditor"}))
HAN = re.compile(r"[\u4e00-\u9fff]")


def small_png(width: int = 24, height: int = 16) -> bytes:
    """A real PNG (8-bit RGB, a red kettle-ish block on white) for the customer's photo."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"".join(b"\xd0\x20\x20" if 6 <= x < 18 and 3 <= y < 13 else b"\xff\xff\xff"
                                      for x in range(width)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def choose(page, field: str, value: str) -> None:
    """An enum field: radios up to four options, a select above."""
    radio = page.locator(f"input[type=radio][name={field}][value='{value}']")
    if radio.count():
        radio.check()
    else:
        page.select_option(f"select#f-{field}", value)


def settle(engine, instance_id: str) -> None:
    """Wait until the in-process worker has run the case's service jobs."""
    def idle():
        return not (engine.queries.jobs_of(READER, instance_id, JobStatus.PENDING)
                    or engine.queries.jobs_of(READER, instance_id, JobStatus.RUNNING))
    wait_for(idle, timeout=20, what=f"the service jobs of {RMA}")


def open_from_inbox(page, live_server, task_name: str) -> None:
    """The person's inbox lists the case's task; open it from there."""
    page.goto(live_server("/inbox"))
    row = page.locator("tr", has_text=RMA).filter(has_text=task_name)
    expect(row).to_have_count(1)
    row.locator("a", has_text=task_name).click()
    expect(page.locator("h1")).to_have_text(task_name)


def complete(page) -> None:
    page.click("button[name=after][value=inbox]")
    expect(page).to_have_url(re.compile(r"/inbox"))
    expect(page.locator("#form-errors")).to_have_count(0)


def open_tasks(engine, instance_id: str) -> list[str]:
    return [t.element_id for t in engine.queries.open_human_tasks_for(READER, instance_id)]


def test_a_chinese_customers_return_from_start_form_to_closed(live_server, page, screenshot_dir, tmp_path):
    engine = live_server.engine
    started = time.monotonic()

    # customer service: the start form, with the customer's photo
    sign_in(page, live_server, "customer.service")
    page.goto(live_server("/new/returns"))
    page.fill("#f-rmaNumber", RMA)
    choose(page, "intakeSource", "phone")
    for field, value in {"orderReference": "SO-8812", "customerName": CUSTOMER, "customerEmail": "xiaoming@example.cn",
                         "customerPhone": "+8613800138000", "customerAddress": "上海市浦东新区世纪大道 100 号",
                         "sku": "KETTLE-2", "serialNumber": "KT2-000417", "lotNumber": "L-7",
                         "purchaseDate": "2026-11-20", "quantity": "1", "returnValue": "80",
                         "description": "水壶加热两分钟后自动断电，指示灯不亮。"}.items():
        page.fill(f"#f-{field}", value)
    for field, value in {"customerLanguage": "zh", "customerSegment": "consumer", "returnReason": "quality_defect",
                         "requestedOutcome": "refund", "returnChannel": "carrier_parcel"}.items():
        choose(page, field, value)
    photo = tmp_path / "kettle-fault.png"
    photo.write_bytes(small_png())
    page.set_input_files("#f-attachments", str(photo))
    assert page.locator("#f-attachments").evaluate("input => [...input.files].map(f => f.name)") == ["kettle-fault.png"]
    page.screenshot(path=str(screenshot_dir / "walk-start-form-with-photo.png"), full_page=True)
    page.click("#start-form button[type=submit]")
    expect(page.locator(".flash.error")).to_have_count(0)
    [(case, _)] = engine.queries.list_instances(READER, InstanceFilter(business_key=RMA)).items
    instance_id = case.id
    settle(engine, instance_id)
    assert open_tasks(engine, instance_id) == ["review_return"]

    # customer service reviews it (opened from the inbox) and accepts
    open_from_inbox(page, live_server, "Review return request")
    expect(page.locator("main")).to_contain_text("kettle-fault.png")
    choose(page, "reviewDecision", "accept")
    complete(page)
    settle(engine, instance_id)
    assert open_tasks(engine, instance_id) == ["issue_return_label"]

    # customer service issues the label
    open_from_inbox(page, live_server, "Issue return label")
    choose(page, "carrier", "dhl")
    page.fill("#f-trackingNumber", "JD014600417")
    complete(page)
    settle(engine, instance_id)
    assert open_tasks(engine, instance_id) == []  # waiting for the parcel

    # the admin makes the carrier integration's API key on the API-keys page
    sign_in(page, live_server, "admin")
    page.goto(live_server("/admin/api-keys"))
    page.fill("#k-name", "carrier-dhl")
    page.select_option("#k-role", "integration")
    page.click("form[action$='/admin/api-keys'] button[type=submit]")
    token = page.locator("#issued-token").inner_text().strip()
    assert token.startswith("ll_")

    # the carrier's scan: ParcelReceived through the REST API, correlated by the RMA number
    request = urllib.request.Request(
        live_server("/api/v1/messages"), method="POST",
        data=json.dumps({"messageName": "ParcelReceived", "correlationKeys": {"rmaNumber": RMA},
                         "variables": {"carrierScan": "delivered"}}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Idempotency-Key": "dhl-scan-JD014600417"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read())["instanceId"] == instance_id
    settle(engine, instance_id)
    assert open_tasks(engine, instance_id) == ["receive_parcel"]

    # the warehouse records the receipt: as requested, so the customer is told it arrived
    sign_in(page, live_server, "warehouse")
    open_from_inbox(page, live_server, "Record parcel receipt")
    choose(page, "parcelCondition", "intact")
    page.fill("#f-receivedQuantity", "1")
    page.check("#f-serialNumberMatches")
    complete(page)
    settle(engine, instance_id)
    assert open_tasks(engine, instance_id) == ["inspect_return"]

    # QA inspects: an electrical fault, the supplier's, back to the supplier (the customer is not responsible)
    sign_in(page, live_server, "qa")
    open_from_inbox(page, live_server, "Inspect and grade return")
    expect(page.locator("section.facts")).to_contain_text("kettle-fault.png")  # the customer's photo as a fact
    for field, value in {"grade": "C", "faultCode": "F-ELEC", "responsibility": "supplier",
                         "disposition": "return_to_supplier"}.items():
        choose(page, field, value)
    page.fill("#f-inspectionNotes", "Thermostat relay opens at 60 °C; supplier batch L-7.")
    complete(page)
    settle(engine, instance_id)
    assert open_tasks(engine, instance_id) == ["prepare_supplier_return"]

    # the warehouse prepares the return to the supplier
    sign_in(page, live_server, "warehouse")
    open_from_inbox(page, live_server, "Prepare return to supplier")
    page.fill("#f-supplierName", "Shenzhen Heating Parts Co.")
    page.fill("#f-supplierRmaNumber", "SHP-RMA-5521")
    page.fill("#f-shippingDate", "2026-12-04")
    complete(page)

    # stock movement, credit note and refund, the refund notice and the CRM close run on the worker
    settle(engine, instance_id)
    wait_for(lambda: engine.queries.instance_for(READER, instance_id)[0].status == "completed", timeout=20,
             what=f"{RMA} to complete (open tasks: {open_tasks(engine, instance_id)})")

    # the case page: completed, the photo listed
    sign_in(page, live_server, "customer.service")
    page.goto(live_server(f"/instances/{instance_id}"))
    expect(page.locator("h1 .badge")).to_have_text(re.compile("completed", re.I))
    expect(page.locator("#diagram[data-rendered=true]")).to_have_count(1)
    for element in ("start_return", "review_return", "issue_return_label", "receive_parcel", "inspect_return",
                    "prepare_supplier_return", "create_credit_note", "notify_refund", "end_return_closed"):
        expect(page.locator(f"g.djs-element.ll-passed[data-element-id={element}]")).to_have_count(1)
    expect(page.locator("a", has_text="kettle-fault.png").first).to_be_visible()
    attachments = engine.attachments.attachments_of(READER, instance_id)
    assert [(a.filename, a.content_type) for a in attachments] == [("kettle-fault.png", "image/png")]
    page.screenshot(path=str(screenshot_dir / "walk-case-closed.png"), full_page=True)

    # every notice the customer got: from the outbox rows, in Chinese
    with engine.db.reading() as session:
        notices = session.execute(select(Notification.template, Notification.language, Notification.channel,
                                         Notification.address, Notification.subject, Notification.body,
                                         Notification.html, Notification.status)
                                  .where(Notification.business_key == RMA)
                                  .order_by(Notification.created_at)).all()
    assert [n.template for n in notices] == ["return_confirmed", "return_received", "refund_issued"]
    # the words a notice may carry in Latin letters: the case's own values, not template text
    own_values = [RMA, "KETTLE-2", "dhl", "DHL", "EUR", "xiaoming@example.cn", "Loopline", "SO-8812"]
    for notice in notices:
        assert notice.language == "zh", notice
        assert notice.address == "xiaoming@example.cn" and notice.channel == "email"
        assert notice.status in ("sent", "delivered"), notice
        for part, text in (("subject", notice.subject or ""), ("body", notice.body),
                           ("html", re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<(style|head)\b.*?</\1>", " ",
                                                                   notice.html or "")))):
            assert HAN.search(text), f"{notice.template} {part} has no Chinese: {text!r}"
            leftover = text
            for value in own_values:
                leftover = leftover.replace(value, " ")
            english = re.findall(r"[A-Za-z]{3,}", leftover)
            assert not english, f"{notice.template} {part} has English words {english}: {text!r}"
        assert RMA in notice.body and CUSTOMER in notice.body
    assert "退款 80" in notices[-1].body and "EUR" in notices[-1].body  # the amount refunded, in the refund notice

    # the same notices on Operations → Messages
    sign_in(page, live_server, "admin")
    page.goto(live_server(f"/operations/messages?q={RMA}"))
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(3)
    for template in ("return_confirmed", "return_received", "refund_issued"):
        expect(rows.filter(has_text=f"{template} (zh)")).to_have_count(1)
    for summary in rows.locator("details summary").all():
        summary.click()  # show each notice's text for the screenshot
    expect(rows.locator("details pre").first).to_contain_text(CUSTOMER)
    page.screenshot(path=str(screenshot_dir / "walk-outbox.png"), full_page=True)

    assert time.monotonic() - started < 60
