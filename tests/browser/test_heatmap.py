"""The heatmap on the returns diagram and the tasks at risk, in a real browser at 1024 px: the demo cases, plus
element_stat rows of 240 simulated past returns (a seeded random walk through the model), so every step has
figures. Screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select, update

from orchestrator.actors import Actor
from orchestrator.element_stats import bucket_of
from orchestrator.metric_models import ElementStat
from orchestrator.models import HumanTask, HumanTaskState, ProcessDefinition, ProcessInstance
from tests.browser.conftest import REPO
from tests.browser.test_return_in_the_browser import no_horizontal_scroll, sign_in
from web.demo_instances import seed_demo_instances

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
HOUR = 3600.0
# typical time spent per kind of step (median seconds); user tasks vary most
MEDIANS = {"userTask": 5 * HOUR, "serviceTask": 2.0, "sendTask": 2.0, "businessRuleTask": 0.3,
           "subProcess": 3 * 24 * HOUR}
SLOW_TASKS = {"inspect_return": 30 * HOUR, "review_return": 40 * HOUR, "refurbish_item": 60 * HOUR}


def _returns_graph() -> tuple[dict[str, str], dict[str, list[str]]]:
    """(kind by element id, targets by source) of the returns process."""
    process = next(p for p in ET.parse(REPO / "bpmn" / "returns.bpmn").getroot().iter(f"{BPMN}process")
                   if p.get("id") == "returns")
    kinds, targets = {}, {}
    for child in process:
        tag = child.tag.removeprefix(BPMN)
        if tag == "sequenceFlow":
            targets.setdefault(child.get("sourceRef"), []).append(child.get("targetRef"))
        elif child.get("id") and tag not in ("laneSet", "extensionElements", "documentation"):
            kinds[child.get("id")] = tag
    return kinds, targets


def seed_history(engine, cases: int = 240) -> None:
    """Histograms and flow counts of `cases` past returns on version 1, as the commands would have counted them."""
    kinds, targets = _returns_graph()
    rng = random.Random(16)
    passes: dict[tuple[str, int], list[int]] = {}

    def count(element_id: str, bucket: int, late: bool) -> None:
        row = passes.setdefault((element_id, bucket), [0, 0, 0.0])
        row[0] += 1
        row[1] += int(late)

    for _ in range(cases):
        here, steps = "start_return", 0
        while here and steps < 40:
            kind = kinds.get(here, "")
            median = SLOW_TASKS.get(here, MEDIANS.get(kind, 0.1))
            seconds = median * rng.lognormvariate(0, 0.6)
            count(here, bucket_of(seconds), kind == "userTask" and seconds > 24 * HOUR)
            following = targets.get(here, [])
            if not following:
                break
            weights = [0.75 if i == 0 else 0.25 / max(len(following) - 1, 1) for i in range(len(following))]
            nxt = rng.choices(following, weights)[0]
            count(f"{here}>{nxt}", -1, False)
            here, steps = nxt, steps + 1
    with engine.db.transaction() as session:
        returns = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == "returns",
                                                                    ProcessDefinition.version == 1))
        for (element_id, bucket), (total, late, _) in passes.items():
            # shard 100: beyond the engine's own shards, so the demo cases' counts never collide with these
            session.add(ElementStat(definition_id=returns, element_id=element_id, bucket=bucket, shard=100,
                                    passes=total, overdue=late, seconds=0.0))


def test_the_heatmap_of_returns_and_the_tasks_at_risk(live_server, page, screenshot_dir):
    engine = live_server.engine
    seed_demo_instances(engine)
    seed_history(engine)
    with engine.db.transaction() as session:  # one demo task waited too long already
        overdue_task = session.scalar(select(HumanTask.id).join(ProcessInstance).where(
            ProcessInstance.business_key == "RMA-DEMO-6", HumanTask.state == HumanTaskState.READY))
        session.execute(update(HumanTask).where(HumanTask.id == overdue_task)
                        .values(due_at=engine.now() - timedelta(hours=3)))
    shots = screenshot_dir
    violations: list[str] = []  # the page runs under the Content-Security-Policy: no inline script or style
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    sign_in(page, live_server, "owner")

    page.goto(live_server("/processes/returns/versions/1"))
    page.click("a:has-text('Heatmap')")
    diagram = page.locator("#heatmap-diagram")
    expect(diagram).to_have_attribute("data-rendered", "true")
    expect(diagram).to_have_attribute("data-metric", "median")
    expect(diagram.locator(".heat-badge[data-element='review_return']")).to_have_count(1)
    expect(diagram.locator(".heat-share[data-flow='start_return>decide_routing']")).to_have_text("100 %")
    review_fill = diagram.locator("[data-element-id='review_return'] .djs-visual > :first-child")
    median_colour = review_fill.evaluate("el => el.style.fill")
    assert median_colour.startswith("rgb(")
    expect(page.locator("table.heatmap-elements tr[data-element='review_return']")).to_contain_text("Review")
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(shots / "heatmap-returns.png"))  # the whole diagram: colours and flow widths

    badge = diagram.locator(".heat-badge[data-element='review_return']")
    expect(badge).to_be_hidden()  # too small to read at this zoom
    page.locator("table.heatmap-elements tr[data-element='review_return'] button.show-step").click()
    expect(diagram).to_have_attribute("data-focus", "review_return")
    expect(badge).to_be_visible()
    expect(badge).to_contain_text("late")
    page.screenshot(path=str(shots / "heatmap-returns-zoomed.png"))

    page.check("input[name='heat-metric'][value='overdue']")
    expect(diagram).to_have_attribute("data-metric", "overdue")
    assert review_fill.evaluate("el => el.style.fill") != median_colour
    expect(page.locator("[data-legend='high']")).to_have_text("100 %")
    page.screenshot(path=str(shots / "heatmap-returns-overdue.png"))
    page.locator("table.heatmap-elements").screenshot(path=str(shots / "heatmap-returns-table.png"))

    page.goto(live_server("/dashboards/at-risk"))
    rows = page.locator("table.at-risk-tasks tbody tr[data-task]")
    expect(page.locator(f"tr[data-task='{overdue_task}'][data-state='overdue']")).to_have_count(1)
    expect(page.locator("tr[data-state='at-risk']").first).to_contain_text("Likely late")
    assert rows.count() >= 2
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(shots / "heatmap-at-risk.png"), full_page=True)

    risky = engine.heatmaps.likely_late([f.task_id for f in engine.heatmaps.at_risk(Actor("audit", roles=frozenset(
        {"auditor"}))).items])
    assert risky
    with engine.db.reading() as session:
        groups = session.scalar(select(HumanTask.candidate_groups).where(HumanTask.id == next(iter(risky))))
    sign_in(page, live_server, groups[0].replace("_", "."))
    page.goto(live_server("/inbox"))
    expect(page.locator(f"tr[data-task='{next(iter(risky))}'] [data-likely-late]")).to_have_text("Likely late")
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(shots / "heatmap-inbox-likely-late.png"), full_page=True)
    assert violations == []
