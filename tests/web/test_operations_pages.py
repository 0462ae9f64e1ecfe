"""Operators see the local ledgers, the outbox and the breakers; others do not."""

from __future__ import annotations

import re

from integrations.registry import JobContext
from web.auth.demo import DEMO_PASSWORD, seed_demo_users


def sign_in(app, email: str):
    browser = app.test_client()
    page = browser.get("/login")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data).group(1).decode()
    browser.post("/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": token})
    return browser


def breaker_rows(html: str, system: str) -> list[str]:
    """The table rows whose first cell is `system`."""
    return [row for row in re.findall(r"<tr>(.*?)</tr>", html, re.S) if cells(row)[:1] == [system]]


def cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_operations_page_shows_what_the_local_backends_did(app, web_engine):
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    web_engine.connectors.get("erp.adjust_stock").run(
        {"sku": "KETTLE-2", "quantity": 3}, JobContext(1, "i", "RMA-1", "book", "erp.adjust_stock", 1, "k-1"))
    web_engine.connectors.get("notify.email").run(
        {"to": "ada@example.com", "name": "Ada", "template": "return_received", "variables": {"rmaNumber": "RMA-1"}},
        JobContext(2, "i", "RMA-1", "mail", "notify.email", 1, "k-2"))
    threshold = web_engine.integration_settings.breaker_threshold
    for _ in range(threshold):  # that many failures in a row open the ERP's breaker
        web_engine.breakers.record_failure("erp", web_engine.now(), "ConnectionError")

    page = sign_in(app, "owner@demo.loopline").get("/operations/")
    assert page.status_code == 200
    text = page.data.decode()
    for expected in ("KETTLE-2", "SM-000001", "ada@example.com", "return_received"):
        assert expected in text
    [erp] = breaker_rows(text, "erp")
    assert cells(erp)[:3] == ["erp", "open (calls paused)", str(threshold)] and "ConnectionError" in cells(erp)
    assert sign_in(app, "warehouse@demo.loopline").get("/operations/").status_code == 403
    assert app.test_client().get("/operations/").status_code == 302
