"""The browser modeler: a process owner opens returns.bpmn, breaks a gateway condition in the properties panel,
validates (the problem is marked on its flow with the message, and listed), is refused at deploy (nothing
changes), fixes the condition, changes the review's due date and deploys version 2, which new cases run; the
running demo returns move to version 2 after a dry run and a moved case finishes there; a decision opens on its
table in dmn-js.
Screenshots (1280 px wide) go to test-artifacts/screenshots."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from orchestrator.models import ProcessDefinition, ProcessInstance
from tests.browser.test_return_in_the_browser import no_horizontal_scroll, settle, sign_in
from tests.conftest import ADMIN
from tests.engine.test_case_migration import REJECT
from tests.processes.driver import staff
from tests.support import inspect
from tests.web.test_modeler import BROKEN, BROKEN_FLOW, CONDITION, counts
from tests.web.test_pages import RETURN
from web.demo_instances import seed_demo_instances

WIDE = {"width": 1280, "height": 900}


def case_id(engine, business_key: str) -> str:
    with engine.db.reading() as session:
        return session.scalar(select(ProcessInstance.id).where(ProcessInstance.business_key == business_key))


def definition_version(engine, instance_id: str) -> int:
    with engine.db.reading() as session:
        return session.get(ProcessDefinition, session.get(ProcessInstance, instance_id).definition_id).version


def complete_as_customer_service(engine, instance_id: str, element_id: str, values: dict) -> None:
    clerk = staff("customer_service")
    [task] = [t for t in engine.queries.open_human_tasks_for(clerk, instance_id) if t.element_id == element_id]
    engine.tasks.complete_user_task(task.id, values, actor=clerk)


def show_and_click(page, element_id: str) -> None:
    """Zoom to 100 %, bring the element into view and click it on the canvas (a flow by its label)."""
    page.evaluate("""(id) => {
        const modeler = window.looplineModelerPage.modeler, canvas = modeler.get('canvas');
        canvas.zoom(1);
        canvas.scrollToElement(modeler.get('elementRegistry').get(id), {top: 80, left: 200, right: 60, bottom: 80});
    }""", element_id)
    page.locator(f"#modeler-canvas g.djs-element[data-element-id='{element_id}'] .djs-hit").first.click(force=True)


def panel_group(page, group_id: str):
    """Open a group of the properties panel (they start closed) and return it."""
    group = page.locator(f"#modeler-properties [data-group-id='{group_id}']")
    header = group.locator(".bio-properties-panel-group-header")
    if "open" not in (header.get_attribute("class") or ""):
        header.click()
    return group


def set_field(page, group_id: str, entry: str, value: str) -> None:
    field = panel_group(page, group_id).locator(f"#bio-properties-panel-{entry}")
    field.fill(value)
    field.press("Tab")  # the panel writes on input (debounced); leaving the field flushes it
    expect(field).to_have_value(value)


def test_a_process_owner_breaks_fixes_and_deploys_returns_v2(live_server, page, screenshot_dir):
    engine, shots = live_server.engine, screenshot_dir
    page.set_viewport_size(WIDE)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda message: errors.append(message.text)
            if "Content Security Policy" in message.text else None)
    seed_demo_instances(engine)  # running demo returns on v1, moved to v2 below
    sign_in(page, live_server, "owner")

    page.goto(live_server("/modeler"))
    page.click("button[data-open-process=returns]")
    expect(page.locator("#modeler-page")).to_have_attribute("data-ready", "true", timeout=20_000)
    expect(page.locator("h1")).to_contain_text("returns.bpmn")
    expect(page.locator("#modeler-canvas a.bjs-powered-by")).to_be_visible()  # the bpmn.io watermark

    # break the accept flow's condition in the properties panel
    show_and_click(page, f"{BROKEN_FLOW}_label")
    expect(page.locator("#modeler-properties .bio-properties-panel-header-label")).to_have_text("accept")
    condition = panel_group(page, "group-CamundaPlatform__Condition").locator(
        "#bio-properties-panel-conditionExpression")
    expect(condition).to_have_value(CONDITION)
    set_field(page, "group-CamundaPlatform__Condition", "conditionExpression", BROKEN)
    page.click("#modeler-validate")
    note = page.locator(f".ll-problem-note[data-problem-for='{BROKEN_FLOW}']")
    expect(note).to_contain_text("'=' is not supported")
    assert "ll-problem" in page.locator(f"#modeler-canvas g.djs-element[data-element-id='{BROKEN_FLOW}']"
                                        ).get_attribute("class")
    problem = page.locator(f"#modeler-problem-list li[data-element='{BROKEN_FLOW}']")
    expect(problem).to_contain_text(BROKEN)
    page.screenshot(path=str(shots / "modeler-1-problem-on-element.png"))

    before = counts(engine)
    page.click("#modeler-deploy")
    expect(page.locator("#modeler-status")).to_have_text("The deploy was refused; nothing was changed.")
    expect(note).to_be_visible()
    assert counts(engine) == before
    page.screenshot(path=str(shots / "modeler-2-deploy-refused.png"))

    # the problem list selects its element: fix the condition there, then move the review's due date
    problem.locator("button").click()
    set_field(page, "group-CamundaPlatform__Condition", "conditionExpression", CONDITION)
    show_and_click(page, "review_return")
    expect(page.locator("#modeler-properties .bio-properties-panel-header-label")).to_have_text(
        "Review return request")
    due = panel_group(page, "group-CamundaPlatform__UserAssignment").locator("#bio-properties-panel-dueDate")
    expect(due).to_have_value("P1D")
    set_field(page, "group-CamundaPlatform__UserAssignment", "dueDate", "P2D")
    page.screenshot(path=str(shots / "modeler-3-due-date-in-panel.png"))
    assert no_horizontal_scroll(page)

    page.keyboard.press("Control+s")
    expect(page.locator("#modeler-status")).to_have_text("Draft saved.")
    page.click("#modeler-deploy")
    expect(page.locator("#modeler-status")).to_have_text("Deployed as returns version 2.")
    expect(page.locator(".ll-problem-note")).to_have_count(0)
    expect(page.locator("#modeler-new-version")).to_be_visible()
    page.screenshot(path=str(shots / "modeler-4-deployed-v2.png"))

    # the running demo returns move to v2 after a dry run, and a moved case finishes there
    page.goto(live_server("/processes/returns/migrate?from=1&to=2"))
    page.locator("button", has_text="Dry run").click()
    expect(page.locator("#movable-cases")).to_contain_text("RMA-DEMO-1")
    page.locator("#migrate-button").click()
    expect(page.locator("#batch-status")).to_have_text("done", timeout=60_000)
    assert " 0 failed" in page.locator("#batch-counts").inner_text()
    page.screenshot(path=str(shots / "modeler-4b-demo-returns-moved-to-v2.png"), full_page=True)
    moved = case_id(engine, "RMA-DEMO-1")
    assert definition_version(engine, moved) == 2
    complete_as_customer_service(engine, moved, "review_return", REJECT)
    settle(engine, moved)
    page.goto(live_server(f"/instances/{moved}"))
    expect(page.locator(".timeline li.ev-instance_migrated")).to_have_count(1)
    expect(page.locator(".timeline li.ev-instance_completed")).to_have_count(1)

    # a decision opens on its table in dmn-js, with its watermark
    page.goto(live_server("/modeler"))
    page.click("button[data-open-decision=return_routing]")
    expect(page.locator("#modeler-page")).to_have_attribute("data-ready", "true", timeout=20_000)
    expect(page.locator(".tjs-table")).to_contain_text("quality_defect")
    expect(page.locator("#modeler-canvas a.bjs-powered-by")).to_be_visible()
    page.screenshot(path=str(shots / "modeler-5-decision-table.png"))
    assert errors == []  # no script error, no style the policy refused

    case = engine.instances.start_instance("returns", actor=ADMIN, variables={**RETURN, "rmaNumber": "RMA-MODELER-2"})
    [task] = inspect.open_tasks(engine, case.id)
    assert task.element_id == "review_return"
    assert (task.due_at - task.created_at).total_seconds() == 48 * 3600
    assert engine.queries.list_definitions("returns")[0].version == 2
