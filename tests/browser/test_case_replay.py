"""In chromium, as an auditor: step through a finished return on its diagram, from the first step to the
last, and jump to a time; each step shows what the history recorded for it."""

from __future__ import annotations

from orchestrator.actors import Actor
from orchestrator.query_filters import InstanceFilter
from orchestrator.replay import replay_steps
from tests.browser.test_decision_facts import sign_in
from tests.support.waiting import wait_for
from web.demo_instances import seed_demo_instances

READER = Actor("reader", roles=frozenset({"auditor"}))


def finished_return(engine) -> str:
    [(case, _)] = engine.queries.list_instances(READER, InstanceFilter(business_key="RMA-DEMO-3")).items
    wait_for(lambda: engine.queries.instance_for(READER, case.id)[0].status == "completed", timeout=30,
             what="the demo return to finish")
    return case.id


def marked(page, cls: str) -> set[str]:
    return set(page.eval_on_selector_all(f"#diagram g.{cls}[data-element-id]",
                                         "nodes => nodes.map(n => n.getAttribute('data-element-id'))"))


def test_an_auditor_steps_through_a_finished_return_on_its_diagram(live_server, page, screenshot_dir):
    seed_demo_instances(live_server.engine)
    case_id = finished_return(live_server.engine)
    history = live_server.engine.queries.history_for(READER, case_id)
    steps = replay_steps(history)
    recorded_path = [e.element_id for e in history if e.type == "element_completed"]

    sign_in(page, live_server, "auditor@demo.loopline")
    page.goto(live_server(f"/instances/{case_id}"))
    page.wait_for_selector("#diagram[data-rendered=true]")
    page.click("#replay-open")
    assert page.get_attribute("#replay", "data-step") == "1"
    first = steps[0]
    assert marked(page, "ll-current") == set(first.passed) | set(first.cancelled) and first.passed[0] == "start_return"
    assert marked(page, "ll-active") == set(first.waiting)
    assert page.locator(".replay-facts").inner_text().count("auditor") == 0  # the demo person started it
    page.screenshot(path=str(screenshot_dir / "replay-first-step.png"), full_page=True)

    # step forward through every step: the path shown, step by step, is the path the history recorded
    shown_path = list(first.passed)
    for step in steps[1:]:
        page.click("[data-replay=next]")
        assert page.get_attribute("#replay", "data-step") == str(step.number)
        current = marked(page, "ll-current")
        assert current == set(step.passed) | set(step.cancelled)
        shown_path += [element for element in step.passed]
        if step.waiting is not None:
            assert marked(page, "ll-active") == set(step.waiting)
        if step.values:
            facts = page.locator(".replay-facts").inner_text()
            assert step.actor in facts
        if step.number == 6:
            page.screenshot(path=str(screenshot_dir / "replay-middle-step.png"), full_page=True)
    assert shown_path == recorded_path
    assert marked(page, "ll-active") == set()  # finished: no token left
    assert recorded_path[-1] in marked(page, "ll-passed")

    # jump to a time (as the reader reads times): the case as it was then, i.e. its last step by that time
    local_times = page.evaluate("JSON.parse(document.getElementById('replay-data').textContent)"
                                ".steps.map(s => s.local)")
    page.fill("#replay-time", local_times[2])
    shown = int(page.get_attribute("#replay", "data-step"))
    assert local_times[shown - 1] == local_times[2] and (shown == len(steps) or local_times[shown] > local_times[2])
    # a time on a whole minute (the input drops its ":00") means that second, not the whole minute
    minute_start = local_times[2][:16] + ":00"
    page.fill("#replay-time", minute_start)
    by_then = [number for number, local in enumerate(local_times, start=1) if local <= minute_start]
    assert int(page.get_attribute("#replay", "data-step")) == (by_then[-1] if by_then else 1)

    # the inspection's entries and the variables it set, marked as changes (the step slider)
    inspection = next(s for s in steps if "grade" in s.values)
    page.eval_on_selector("#replay-step", "(el, n) => { el.value = n; el.dispatchEvent(new Event('input')); }",
                          str(inspection.number))
    assert page.get_attribute("#replay", "data-step") == str(inspection.number)
    facts = page.locator(".replay-facts").inner_text()
    assert "Grade" in facts
    changed = page.eval_on_selector_all(".replay-vars tr.added, .replay-vars tr.changed",
                                        "rows => rows.map(r => r.getAttribute('data-variable'))")
    assert set(inspection.set) == set(changed) and "grade" in changed
    page.screenshot(path=str(screenshot_dir / "replay-inspection.png"), full_page=True)

    # play runs to the end by itself; "back to now" shows the case as it is
    page.click("[data-replay=first]")
    page.click("[data-replay=play]")
    page.wait_for_selector(f"#replay[data-step='{len(steps)}']", timeout=len(steps) * 1500 + 5000)
    assert page.locator("[data-replay=play]").get_attribute("aria-pressed") == "false"  # stopped at the end
    page.click("[data-replay=close]")
    assert page.locator("#replay").is_hidden() and not marked(page, "ll-current")
