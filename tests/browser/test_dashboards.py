"""The dashboards in a real browser at 1024 px, signed in as the management demo user: the demo cases plus a year of
simulated returns and CAPAs (case_metric rows, sales volumes, heatmap histograms) and the hand-made recalls of the
engine test. Each dashboard is screenshot; clicking a bar opens the list of the cases behind it."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from orchestrator.metric_models import SalesVolume
from orchestrator.models import HumanTask, ProcessDefinition
from tests.browser.test_heatmap import seed_history
from tests.browser.test_return_in_the_browser import no_horizontal_scroll, sign_in
from tests.engine.test_dashboards import _add_case, seed_dashboard_rows

SKUS = ("KETTLE-2L", "TOASTER-4", "BLENDER-X", "MIXER-PRO", "GRILL-S")
REASONS = ("no_reason", "wrong_item", "transit_damage", "quality_defect", "take_back")
REGIONS = ("north", "east", "south", "west")
CHANNELS = ("carrier_parcel", "store_drop_off", "courier_pickup")
OUTCOMES = ("refund", "exchange", "repair", "recycle")
DISPOSITIONS = ("restock", "refurbish", "return_to_supplier", "scrap")
FAULTS = ("F-ELEC", "F-MECH", "F-FUNC", "F-COSM", "F-PACK", "F-MISS")


def seed_a_year(engine) -> None:
    """About 300 returns and 24 CAPAs started over the last twelve months, and the units sold per SKU and month."""
    rng = random.Random(1616)
    now = engine.now()
    with engine.db.transaction() as session:
        definitions = dict(session.execute(select(ProcessDefinition.key, ProcessDefinition.id)).all())
        for number in range(300):
            started = now - timedelta(days=rng.uniform(0, 360))
            received = started + timedelta(days=rng.uniform(0.5, 6))
            resolved = received + timedelta(days=rng.uniform(0.2, 9)) if rng.random() < 0.8 else None
            ended = resolved if resolved and resolved < now else None
            costs = rng.random() < 0.7
            _add_case(session, definitions["returns"], "returns", f"RMA-SIM-{number:04d}",
                      status="completed" if ended else "running", started_at=started, ended_at=ended,
                      received_at=received if received < now else None, resolved_at=ended,
                      sku=rng.choices(SKUS, (5, 3, 2, 2, 1))[0], reason=rng.choices(REASONS, (4, 1, 2, 3, 1))[0],
                      region=rng.choice(REGIONS), channel=rng.choice(CHANNELS),
                      outcome=rng.choices(OUTCOMES, (6, 3, 2, 1))[0], grade=rng.choice(("A", "B", "C")),
                      disposition=rng.choices(DISPOSITIONS, (5, 3, 1, 2))[0],
                      fault_code=rng.choices(FAULTS, (6, 4, 3, 2, 1, 1))[0] if rng.random() < 0.7 else None,
                      quantity=rng.choice((1, 1, 1, 2)), recovered_value=round(rng.uniform(0, 80), 2),
                      cost_logistics=round(rng.uniform(4, 12), 2) if costs else None,
                      cost_parts=round(rng.uniform(0, 30), 2) if costs else None,
                      cost_labour=round(rng.uniform(5, 25), 2) if costs else None)
        for number in range(24):
            started = now - timedelta(days=rng.uniform(5, 350))
            closed = rng.random() < 0.4
            ended = started + timedelta(days=rng.uniform(20, 120)) if closed else None
            closed = closed and ended < now
            capa = _add_case(session, definitions["capa"], "capa", f"CAPA-SIM-{number:03d}",
                      status="completed" if closed else "running", started_at=started,
                      ended_at=ended if closed else None,
                      stage="closed" if closed else rng.choice(("D1", "D2", "D3", "D4", "D4", "D5", "D6", "D7", None)),
                      supplier=rng.choice(("Acme Motors", "Brightline", "Coilworks")), fault_code=rng.choice(FAULTS))
            if not closed and number % 3 == 0:  # every third open CAPA has a task past its due date
                element_id, name = rng.choice((("define_containment", "D3 Contain the problem"),
                                                    ("analyse_root_cause", "D4 Find the root cause")))
                session.add(HumanTask(id=str(uuid.uuid4()), instance_id=capa, element_id=element_id, name=name,
                                      candidate_groups=["qa"], candidate_users=[], priority=50, form=[],
                                      due_at=now - timedelta(days=rng.uniform(1, 20)), state="ready", created_at=started))
        first = date(now.year - 1, now.month, 1)
        for index in range(13):
            month = date(first.year + (first.month - 1 + index) // 12, (first.month - 1 + index) % 12 + 1, 1)
            for sku in SKUS:
                regional = {region: rng.randint(80, 220) for region in REGIONS}
                session.add(SalesVolume(sku=sku, month=month, region="", units=sum(regional.values())))
                for region, units in regional.items():
                    session.add(SalesVolume(sku=sku, month=month, region=region, units=units))


def test_the_three_dashboards_and_a_drill_down(live_server, page, screenshot_dir):
    engine = live_server.engine
    seed_a_year(engine)
    seed_history(engine)
    seed_dashboard_rows(engine)  # the recalls with their notifications and trace events (and 2025's cases)
    sign_in(page, live_server, "management")

    page.goto(live_server("/dashboards"))
    page.click(".dashboard-list a[href='/dashboards/returns']")
    canvas = page.locator("#chart-rate_by_sku")
    expect(canvas).to_have_attribute("data-ready", "true")
    expect(page.locator("#chart-pareto")).to_have_attribute("data-ready", "true")
    expect(page.locator("#table-rate_by_sku tbody tr").first).to_contain_text("KETTLE-2L")
    expect(page.locator("#table-reuse")).to_contain_text("Reused")
    expect(page.locator("#table-step_times")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "returns-dashboard.png"), full_page=True)
    assert no_horizontal_scroll(page)

    # the first bar of "Return rate by SKU" is the SKU returned most: KETTLE-2L
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    point = page.evaluate("""() => {
        const chart = Chart.getChart('chart-rate_by_sku');
        const bar = chart.getDatasetMeta(0).data[0];
        return {x: bar.x, y: (bar.y + bar.base) / 2};
    }""")
    with page.expect_navigation():
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    assert "/dashboards/returns/cases" in page.url and "dimension=sku" in page.url and "value=KETTLE-2L" in page.url
    expect(page.locator("h1")).to_contain_text("Cases")
    expect(page.locator("table.drill-cases tbody tr").first).to_contain_text("RMA-SIM-")
    expect(page.locator(".drill-selection")).to_contain_text("KETTLE-2L")
    page.screenshot(path=str(screenshot_dir / "returns-drill-down.png"), full_page=True)
    assert no_horizontal_scroll(page)
    with page.expect_navigation():
        page.locator("table.drill-cases tbody tr a").first.click()
    assert "/instances/" in page.url

    page.goto(live_server("/dashboards/returns"))
    page.select_option("select[name=region]", label="North")
    with page.expect_navigation():
        page.click("button:has-text('Filter')")
    assert "region=north" in page.url
    expect(page.locator("#table-rate_by_region tbody tr")).to_have_count(1)
    expect(page.locator("#table-rate_by_region tbody tr")).to_contain_text("North")

    page.goto(live_server("/dashboards/capa"))
    expect(page.locator("#chart-open_by_discipline")).to_have_attribute("data-ready", "true")
    expect(page.locator("#table-by_supplier")).to_contain_text("Acme Motors")
    page.screenshot(path=str(screenshot_dir / "capa-dashboard.png"), full_page=True)
    assert no_horizontal_scroll(page)

    page.goto(live_server("/dashboards/recall?from=2025-01-01"))
    expect(page.locator("#chart-reach")).to_have_attribute("data-ready", "true")
    expect(page.locator("#table-recalls")).to_contain_text("RC-1")
    page.screenshot(path=str(screenshot_dir / "recall-dashboard.png"), full_page=True)
    assert no_horizontal_scroll(page)
