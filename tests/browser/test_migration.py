"""Running demo returns moved from v1 to v2 in a real browser: the process owner dry-runs the migration, migrates,
watches the batch to done, opens a moved case and sees it finish on v2 (through v2's added step). v2 is deployed
by the engine in the set-up. Screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from orchestrator.models import InstanceStatus, ProcessInstance
from tests.browser.test_return_in_the_browser import no_horizontal_scroll, settle, sign_in
from tests.browser.test_undecided_messages import reload_until
from tests.engine.test_case_migration import REJECT, deploy_v2
from tests.processes.driver import staff
from web.demo_instances import seed_demo_instances


def _case(engine, business_key: str) -> str:
    with engine.db.reading() as session:
        return session.scalar(select(ProcessInstance.id).where(ProcessInstance.business_key == business_key))


def _complete(engine, instance_id: str, element_id: str, values: dict) -> None:
    clerk = staff("customer_service")
    [task] = [t for t in engine.queries.open_human_tasks_for(clerk, instance_id) if t.element_id == element_id]
    engine.tasks.complete_user_task(task.id, values, actor=clerk)


def test_a_process_owner_migrates_the_demo_returns_to_v2_and_a_moved_case_finishes_there(
        live_server, page, screenshot_dir):
    engine, shots = live_server.engine, screenshot_dir
    seed_demo_instances(engine)
    version = deploy_v2(engine)
    assert version == 2
    waiting_in_review = _case(engine, "RMA-DEMO-1")

    sign_in(page, live_server, "owner")
    page.goto(live_server("/processes/returns/migrate?from=1&to=2"))
    expect(page.locator("h1")).to_contain_text("Move cases to another version")
    expect(page.locator("#from-version")).to_have_value("1")
    expect(page.locator("#to-version")).to_have_value("2")
    page.screenshot(path=str(shots / "migration-1-choose.png"), full_page=True)
    assert no_horizontal_scroll(page)

    page.locator("button", has_text="Dry run").click()
    dry_run = page.locator("#dry-run")
    expect(dry_run).to_contain_text("cases can move")
    expect(page.locator("#movable-cases")).to_contain_text("RMA-DEMO-1")
    migrate = page.locator("#migrate-button")
    expect(migrate).to_contain_text("Migrate")
    dry_run.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "migration-2-dry-run.png"), full_page=True)
    assert no_horizontal_scroll(page)

    migrate.click()
    expect(page.locator("h1")).to_contain_text("Batch")
    expect(page.locator("#batch-status")).to_have_text("done", timeout=60_000)  # the page refreshes itself
    counts = page.locator("#batch-counts").inner_text()
    assert " 0 failed" in counts, counts
    page.screenshot(path=str(shots / "migration-3-batch-done.png"), full_page=True)
    assert no_horizontal_scroll(page)

    page.goto(live_server(f"/instances/{waiting_in_review}"))
    moved = page.locator(".timeline li.ev-instance_migrated")
    expect(moved).to_have_count(1)
    expect(moved).to_contain_text("case moved to another version")
    expect(moved).to_contain_text("owner@demo.loopline")
    moved.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "migration-4-moved-case.png"), full_page=True)

    _complete(engine, waiting_in_review, "review_return", REJECT)
    _complete(engine, waiting_in_review, "confirm_review", {})  # the step v2 added after the review
    settle(engine, waiting_in_review)
    reload_until(page, lambda: page.locator(".timeline li.ev-instance_completed").count() == 1)
    expect(page.locator(".timeline")).to_contain_text("Confirm the review")
    page.screenshot(path=str(shots / "migration-5-finished-on-v2.png"), full_page=True)
    with engine.db.reading() as session:
        assert session.get(ProcessInstance, waiting_in_review).status == InstanceStatus.COMPLETED
