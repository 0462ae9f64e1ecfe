"""A reader whose browser asks for Chinese sees the models' words in Chinese: no English process, step,
field or option name of the bundled models, nor decision output label or returned text, on the inbox, a
return's task form or the case page.
Screenshots go to /tmp (inbox, task form, case page)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from orchestrator.query_filters import InstanceFilter
from tests.browser.conftest import VIEWPORT
from tests.browser.test_return_in_the_browser import READER, settle

SCREENSHOTS = Path("/tmp")
RETURN = {"rmaNumber": "RMA-ZH-1", "intakeSource": "web_form", "customerName": "Li Lei",
          "customerEmail": "li@example.com", "customerPhone": "+8613800138000", "customerAddress": "上海市浦东新区 1 号",
          "orderReference": "SO-88", "customerSegment": "consumer", "customerLanguage": "zh", "sku": "KETTLE-2",
          "lotNumber": "L-7", "purchaseDate": "2026-10-01", "quantity": "1", "returnValue": "80",
          "returnReason": "quality_defect", "requestedOutcome": "refund", "returnChannel": "carrier_parcel"}


def chinese_model_texts(engine) -> set[str]:
    return {text for definition in engine.queries.list_definitions()
            for text in engine.queries.process_model(definition.id).texts.translations.get("zh", {}).values()}


def english_model_texts(engine) -> set[str]:
    """Every English text of the deployed models whose Chinese differs (codes such as "DHL" stay alike)."""
    texts = set()
    for definition in engine.queries.list_definitions():
        model = engine.queries.process_model(definition.id)
        zh = model.texts.translations.get("zh", {})
        texts |= {english for key, english in model.texts.source.items()
                  if zh.get(key, english) != english and re.search(r"[A-Za-z]{3}", english)}
    return texts


def english_on(page, texts: set[str], translations: set[str]) -> list[str]:
    """The model texts the page shows in English, as whole words (a label "Note" is not found in "Notes");
    the Chinese texts are taken out first ("SKU（商品编码）" keeps the code) and so is the language switch."""
    shown = page.evaluate("""() => { const switcher = document.querySelector('form[action$="/language"]');
        if (switcher) switcher.remove(); return document.body.innerText; }""")
    for text in sorted(translations, key=len, reverse=True):
        shown = shown.replace(text, " ")
    return sorted(t for t in texts if re.search(r"(?<![A-Za-z])" + re.escape(t) + r"(?![A-Za-z])", shown))


def test_a_return_in_chinese_shows_no_english_model_text(live_server, chromium_browser):
    engine = live_server.engine
    context = chromium_browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(live_server("/login"))
        page.fill("input[name=email]", "customer.service@demo.loopline")
        page.fill("input[name=password]", live_server.password)
        with page.expect_navigation():
            page.press("input[name=password]", "Enter")
        page.goto(live_server("/new/returns"))
        expect(page.locator("h1")).to_contain_text("退货 / 回收（RMA）")
        for field, value in RETURN.items():
            radio = page.locator(f"input[name={field}][value='{value}']")
            if radio.count():
                radio.check()
            elif page.locator(f"select#f-{field}").count():
                page.select_option(f"#f-{field}", value)
            else:
                page.fill(f"#f-{field}", value)
        page.click("button.primary")
        expect(page.locator("h1")).to_have_text("审核退货申请")
        texts, chinese = english_model_texts(engine), chinese_model_texts(engine)
        assert {"Review return request", "Quality defect", "Customer name", "Customer keeps item",
                "quality defect"} <= texts  # the decisions' words too

        page.screenshot(path=str(SCREENSHOTS / "zh-task-form.png"), full_page=True)
        assert english_on(page, texts, chinese) == []
        expect(page.locator("#task-form")).to_contain_text("接受退货")

        page.goto(live_server("/inbox"))
        expect(page.locator("table.tasks")).to_contain_text("审核退货申请")
        page.screenshot(path=str(SCREENSHOTS / "zh-inbox.png"), full_page=True)
        assert english_on(page, texts, chinese) == []

        instance = engine.queries.list_instances(READER, InstanceFilter(business_key="RMA-ZH-1")).items[0][0]
        settle(engine, instance.id)
        page.goto(live_server(f"/instances/{instance.id}"))
        page.wait_for_selector("#diagram svg")
        expect(page.locator("#diagram")).to_contain_text("审核退货申请")  # the diagram's labels too
        page.screenshot(path=str(SCREENSHOTS / "zh-case.png"), full_page=True)
        assert english_on(page, texts, chinese) == []
    finally:
        context.close()
