"""Messages nobody can account for, decided in a real browser: a campaign's provider answers were lost and the
provider cannot say whether it took them, so the case stops at an incident; an operator finds it, marks one
message as sent and has the other sent again in the outbox, retries, and the case moves on.

The server sends through the real Twilio SDK to the loopback provider server of the integrations ring.
Screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

import threading
import time

import pytest
from playwright.sync_api import expect

from integrations.config import IntegrationSettings
from orchestrator.actors import Actor
from tests.browser import conftest as browser_ring
from tests.browser.test_return_in_the_browser import no_horizontal_scroll, sign_in
from tests.conftest import ADMIN, deploy_fixture
from tests.integrations.conftest import ACK_SECRET, TWILIO_SID, TWILIO_TOKEN
from tests.integrations.loopback import ProviderServer, Reply

READER = Actor("auditor", roles=frozenset({"auditor"}))
CASE = "RECALL-UI-1"
PHONES = {"R-1": "+15551230001", "R-2": "+15551230002", "R-3": "+15551230003", "R-4": "+15551230004"}
WENT_OUT, SEND_AGAIN = PHONES["R-2"], PHONES["R-3"]  # their answers are lost; the provider cannot say
TIMEOUT, LATE = 1.0, 3.0  # the client gives up after TIMEOUT; the lost answers come after LATE
NEEDS_DECISION = "mark each as sent or send it again in the outbox, then retry"


@pytest.fixture
def notifying_server(request, monkeypatch, provider_server):
    """The browser ring's live server, configured (through its environment variables) to send with the
    providers backend to the loopback provider server, with the recall campaign fixture model deployed."""
    environment = {
        "LOOPLINE_NOTIFY_BACKEND": "providers", "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_FROM": "+15550001000",
        "LOOPLINE_TWILIO_BASE_URL": provider_server.url, "LOOPLINE_ACK_SECRET": ACK_SECRET,
        "LOOPLINE_NOTIFY_TIMEOUT": str(TIMEOUT), "LOOPLINE_NOTIFY_LOOKUP_DELAY": "0.2",
    }

    class ConfiguredIntegrations:  # what the live server's start-up reads its integration settings from
        @staticmethod
        def from_env(values):
            return IntegrationSettings.from_env({**values, **environment})

    monkeypatch.setattr(browser_ring, "IntegrationSettings", ConfiguredIntegrations)
    server = request.getfixturevalue("live_server")
    deploy_fixture(server.engine, "recall_campaign.bpmn")
    return server


def lose_the_first_answer_to(provider_server: ProviderServer, *phones: str) -> None:
    """The provider takes the first SMS to each phone but answers too late; later ones are answered at once."""
    pending, lock = set(phones), threading.Lock()

    def first_to_a_lost_phone(request) -> bool:
        with lock:
            if request.recipient in pending:
                pending.discard(request.recipient)
                return True
            return False

    provider_server.rule(first_to_a_lost_phone, Reply(201, delay=LATE))


def wait_for_incident(engine, instance_id: str) -> None:
    """Setup only: wait until the in-process worker has stopped the campaign job at its incident."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(i.instance_id == instance_id for i in engine.queries.open_incidents(READER)):
            return
        time.sleep(0.2)
    raise AssertionError(f"no incident for {instance_id}: {engine.queries.jobs_of(READER, instance_id)}")


def reload_until(page, shown, seconds: float = 60) -> None:
    """Reload the page, as a person would, until `shown()` holds: the case page does not refresh itself."""
    deadline = time.monotonic() + seconds
    while not shown():
        assert time.monotonic() < deadline, f"still not shown after {seconds} s of reloading"
        page.wait_for_timeout(500)
        page.reload()


def texts_sent_to(provider_server: ProviderServer, phone: str) -> int:
    return sum(1 for r in provider_server.received("twilio") if r.recipient == phone)


def test_an_operator_decides_two_messages_nobody_can_account_for(notifying_server, provider_server, page,
                                                                 screenshot_dir):
    server, shots = notifying_server, screenshot_dir
    lose_the_first_answer_to(provider_server, WENT_OUT, SEND_AGAIN)
    provider_server.lookup_status = 403  # no message history on this account: the provider cannot say
    instance = server.engine.instances.start_instance(
        "recall_notice", actor=ADMIN, business_key=CASE,
        variables={"campaign": "Kettle K2 recall", "template": "recall_reminder",
                   "variables": {"product": "Kettle K2", "recallClass": "II"},
                   "recipients": [{"id": key, "name": f"Customer {key}", "phone": phone}
                                  for key, phone in PHONES.items()]})
    wait_for_incident(server.engine, instance.id)
    assert {phone: texts_sent_to(provider_server, phone) for phone in PHONES.values()} == dict.fromkeys(PHONES.values(), 1)

    missing = []  # stylesheets, scripts and pages that fail to load along the walk
    page.on("response", lambda r: r.status >= 400 and "/favicon.ico" not in r.url and missing.append(r.url))

    # --- the operator finds the incident and opens its case
    sign_in(page, server, "owner")
    page.click("nav >> text=Operations")
    page.click(".crumbs >> text=Incidents")
    incident_row = page.locator("tr", has_text=NEEDS_DECISION)
    expect(incident_row).to_have_count(1)
    expect(incident_row).to_contain_text("Send recall notices")
    page.screenshot(path=str(shots / "undecided-1-incidents.png"), full_page=True)
    incident_row.locator(f"a[href$='/instances/{instance.id}']").click()

    # --- the case: the incident says what to do, the notices panel counts two unknown
    expect(page.locator("h1")).to_contain_text(CASE)
    incidents = page.locator("section.card.alert")
    expect(incidents).to_contain_text("2 message(s) may or may not have gone out and the provider cannot say")
    expect(incidents).to_contain_text(NEEDS_DECISION)
    expect(incidents.locator("b")).to_have_text("Send recall notices")  # the step by its name, not its id
    notices = page.locator("table.campaigns tbody tr")
    expect(notices).to_have_count(1)
    expect(notices).to_contain_text("Kettle K2 recall")
    expect(notices.locator("td").nth(1)).to_have_text("4")
    expect(notices.locator("td.sent")).to_have_text("2")
    expect(notices.locator("td.sending")).to_have_text("0")
    expect(notices.locator("td.failed")).to_have_text("0")
    expect(notices.locator("td.unknown")).to_have_text("2")
    page.screenshot(path=str(shots / "undecided-2-case-with-incident.png"), full_page=True)
    assert no_horizontal_scroll(page)

    # --- the unknown count opens the outbox on the two messages waiting for a decision
    notices.locator("td.unknown a").click()
    expect(page.locator("main h1")).to_have_text("Message outbox (2)")
    expect(page.locator("select[name=status]")).to_have_value("unknown")
    rows = page.locator("main tbody tr")
    expect(rows).to_have_count(2)
    for row in rows.all():
        expect(row).to_contain_text("the answer was lost and the provider cannot say whether it went out")
        expect(row.locator("button", has_text="It went out")).to_be_visible()
        expect(row.locator("button", has_text="Send again")).to_be_visible()
        expect(row.locator("a", has_text=CASE)).to_be_visible()
    page.screenshot(path=str(shots / "undecided-3-outbox-unknown.png"), full_page=True)
    assert no_horizontal_scroll(page)

    # --- one went out (say the customer confirmed it), the other is to be sent again
    page.locator("tr", has_text=WENT_OUT).locator("button", has_text="It went out").click()
    expect(page.locator(".flash.info")).to_have_text("Marked as sent.")
    expect(page.locator("main h1")).to_have_text("Message outbox (1)")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(SEND_AGAIN)
    page.locator("tr", has_text=SEND_AGAIN).locator("button", has_text="Send again").click()
    expect(page.locator(".flash.info")).to_have_text("It will be sent again when the job is retried.")
    expect(page.locator("main h1")).to_have_text("Message outbox (0)")
    expect(rows).to_have_text(["No messages."])
    page.screenshot(path=str(shots / "undecided-4-outbox-decided.png"), full_page=True)
    assert texts_sent_to(provider_server, WENT_OUT) == 1 and texts_sent_to(provider_server, SEND_AGAIN) == 1

    # --- the whole outbox shows what was decided, by whom
    page.select_option("select[name=status]", "")
    page.click("form.filters button:has-text('Filter')")
    expect(page.locator("main h1")).to_have_text("Message outbox (4)")
    expect(page.locator("tr", has_text=WENT_OUT)).to_contain_text("confirmed sent by owner@demo.loopline")
    expect(page.locator("tr", has_text=SEND_AGAIN)).to_contain_text("sent again by owner@demo.loopline")
    expect(page.locator("tr", has_text=SEND_AGAIN).locator("td").nth(5)).to_contain_text("queued")

    # --- back to the case: nothing unknown any more; the retry sends the one message again
    page.locator("tr", has_text=SEND_AGAIN).locator("a", has_text=CASE).click()
    expect(page.locator("h1")).to_contain_text(CASE)
    expect(notices.locator("td.unknown")).to_have_text("0")
    expect(notices.locator("td.sent")).to_have_text("3")
    page.screenshot(path=str(shots / "undecided-5-case-before-retry.png"), full_page=True)
    incidents.locator("button", has_text="Retry").click()
    expect(page.locator(".flash.info")).to_have_text("The job runs again.")
    page.screenshot(path=str(shots / "undecided-6-case-retried.png"), full_page=True)
    campaign_job = page.locator("tr", has=page.locator("code", has_text="notify.campaign")).locator(".badge")
    reload_until(page, lambda: campaign_job.inner_text().strip() == "completed")
    expect(incidents).to_have_count(0)
    expect(notices.locator("td.sent")).to_have_text("4")
    expect(notices.locator("td.unknown")).to_have_text("0")
    expect(page.locator("main")).to_contain_text("RecallAcknowledged")  # the case moved on to its next step
    page.screenshot(path=str(shots / "undecided-7-case-after-retry.png"), full_page=True)
    assert no_horizontal_scroll(page)

    # --- the provider got exactly one more text: to the one sent again
    assert {phone: texts_sent_to(provider_server, phone) for phone in PHONES.values()} == {
        PHONES["R-1"]: 1, WENT_OUT: 1, SEND_AGAIN: 2, PHONES["R-4"]: 1}
    assert len(provider_server.received("twilio")) == 5
    assert missing == []
