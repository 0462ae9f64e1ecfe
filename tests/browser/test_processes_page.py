"""A process owner's Processes pages in a real browser at 1280 px: the list of processes and versions, a
version's diagram (with the bpmn.io watermark), and two versions side by side with their changes marked.
Screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_return_in_the_browser import no_horizontal_scroll, sign_in
from tests.conftest import ADMIN
from tests.web.test_processes_page import edited_models

OLD_FLOW, NEW_FLOW = "f_issue_return_label_to_send_rma_confirmation", "f_label_issued_to_send_rma_confirmation"


def test_a_process_owner_reads_versions_a_diagram_and_the_changes_of_a_new_version(live_server, page, screenshot_dir,
                                                                                     tmp_path):
    models = edited_models(tmp_path / "bpmn")  # a task renamed, a due date changed
    returns = models / "returns.bpmn"  # and a flow drawn again (a new id): one removed, one added
    returns.write_text(returns.read_text(encoding="utf-8").replace(OLD_FLOW, NEW_FLOW), encoding="utf-8")
    assert [(d.key, d.version) for d in live_server.engine.deployments.deploy_directory(models, actor=ADMIN)
            if d.new] == [("returns", 2)]
    page.set_viewport_size({"width": 1280, "height": 900})
    shots = screenshot_dir

    sign_in(page, live_server, "owner")
    page.goto(live_server("/processes"))
    returns_card = page.locator("#process-returns")
    expect(returns_card.locator("tr[data-version]")).to_have_count(2)
    expect(returns_card.locator("tr[data-version='2']")).to_contain_text("latest")
    page.screenshot(path=str(shots / "processes-1-list.png"), full_page=True)
    assert no_horizontal_scroll(page)

    returns_card.locator("tr[data-version='1'] a", has_text="v1").click()
    expect(page.locator("#diagram")).to_have_attribute("data-rendered", "true")
    expect(page.locator("#diagram .bjs-powered-by")).to_be_visible()  # the bpmn.io watermark stays
    expect(page.locator("table.version-files")).to_contain_text("returns.bpmn")
    expect(page.locator("button", has_text="Start a case on this version")).to_be_visible()
    page.screenshot(path=str(shots / "processes-2-version.png"), full_page=True)
    assert no_horizontal_scroll(page)

    page.goto(live_server("/processes"))
    page.locator("#process-returns a", has_text="Compare with v1").click()
    old, new = page.locator("#diagram-old"), page.locator("#diagram-new")
    expect(old).to_have_attribute("data-rendered", "true")
    expect(new).to_have_attribute("data-rendered", "true")
    expect(old.locator(f"[data-element-id='{OLD_FLOW}'].ll-diff-removed")).to_have_count(1)
    expect(new.locator(f"[data-element-id='{NEW_FLOW}'].ll-diff-added")).to_have_count(1)
    for diagram in (old, new):
        expect(diagram.locator(".ll-diff-changed")).to_have_count(2)
        expect(diagram.locator("[data-element-id='review_return'].ll-diff-changed")).to_have_count(1)
    color = new.locator("[data-element-id='review_return'] .djs-visual > :nth-child(1)").evaluate(
        "el => getComputedStyle(el).stroke")
    assert color == "rgb(201, 132, 0)"  # amber, from processes.css
    rows = page.locator("table.diff-table tr.diff-row")
    expect(rows).to_have_count(4)
    expect(page.locator("tr[data-element='review_return']")).to_contain_text("Review the return request")
    expect(page.locator("tr[data-element='receive_parcel']")).to_contain_text("PT48H")
    box_old, box_new = old.bounding_box(), new.bounding_box()
    assert box_old["x"] + box_old["width"] <= box_new["x"] and abs(box_old["y"] - box_new["y"]) < 2  # side by side
    page.screenshot(path=str(shots / "processes-3-diff.png"), full_page=True)
    assert no_horizontal_scroll(page)
