"""In chromium: the scrap approval and the countersign review show the facts their decision needs, by label."""

from __future__ import annotations

from orchestrator.actors import Actor
from orchestrator.query_filters import InstanceFilter
from web.demo_instances import seed_demo_instances

READER = Actor("reader", roles=frozenset({"auditor"}))


def sign_in(page, live_server, email: str) -> None:
    page.goto(live_server("/login"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", live_server.password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")


def task_url(live_server, business_key: str, element_id: str) -> str:
    engine = live_server.engine
    [(case, _)] = engine.queries.list_instances(READER, InstanceFilter(business_key=business_key)).items
    task = next(t for t in engine.queries.open_human_tasks_for(READER, case.id) if t.element_id == element_id)
    return live_server(f"/tasks/{task.id}")


def fact(page, label: str) -> str:
    return page.locator(".facts-grid > div", has=page.locator("dt", has_text=label)).locator("dd").inner_text()


def test_scrap_approval_and_countersign_review_show_their_facts(live_server, page, screenshot_dir):
    seed_demo_instances(live_server.engine)
    sign_in(page, live_server, "asset.management@demo.loopline")
    page.goto(task_url(live_server, "RMA-DEMO-5", "approve_scrap"))
    facts = page.locator("section.facts")
    assert facts.is_visible() and facts.bounding_box()["y"] < page.locator("#task-form").bounding_box()["y"]
    assert fact(page, "Grade") == "C – defective, not resellable"
    assert fact(page, "Fault code") == "Electrical failure"
    assert fact(page, "Disposition") == "Recycle / scrap"
    assert "None" not in facts.inner_text()
    page.screenshot(path="/tmp/facts-scrap-approval.png", full_page=True)
    page.screenshot(path=str(screenshot_dir / "facts-scrap-approval.png"), full_page=True)

    page.context.clear_cookies()
    sign_in(page, live_server, "qa@demo.loopline")
    page.goto(task_url(live_server, "CAPA-DEMO-3", "review_countersign"))
    verdicts = fact(page, "Verdict")
    # the departments by their names, not their group codes
    assert "Quality: Agree" in verdicts.replace(" :", ":") and "Engineering: Object" in verdicts.replace(" :", ":")
    assert "carton spec" in fact(page, "Comment")
    page.screenshot(path="/tmp/facts-countersign-review.png", full_page=True)
    page.screenshot(path=str(screenshot_dir / "facts-countersign-review.png"), full_page=True)

    [(case, _)] = live_server.engine.queries.list_instances(READER, InstanceFilter(business_key="RMA-DEMO-5")).items
    page.goto(live_server(f"/instances/{case.id}"))
    page.screenshot(path="/tmp/case-data-grouped.png", full_page=True)
