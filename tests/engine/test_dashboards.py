"""Dashboards of returns, recalls and CAPA from case_metric, sales_volume, human_task, history and notification rows
seeded by hand (SQLite and PostgreSQL): every figure below is computed by hand from the rows in the comments."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from integrations.notify.models import Campaign, Notification
from integrations.traceability.models import TraceEvent
from orchestrator.actors import Actor
from orchestrator.dashboard_queries import DashboardFilter
from orchestrator.errors import Forbidden, InvalidInput, NotFound
from orchestrator.metric_models import CaseMetric, SalesVolume
from orchestrator.models import HistoryEvent, HumanTask, ProcessDefinition, ProcessInstance

MANAGER = Actor("mia", roles=frozenset({"manager"}))
AUDITOR = Actor("audrey", roles=frozenset({"auditor"}))
STAFF = Actor("sam", roles=frozenset({"staff"}))
YEAR_2025 = DashboardFilter(start=date(2025, 1, 1), end=date(2025, 12, 31))


def at(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def _add_case(session, definition_id: int, key: str, business_key: str, variables=None, **metric) -> str:
    instance_id = str(uuid.uuid4())
    status = metric.setdefault("status", "completed")
    session.add(ProcessInstance(id=instance_id, definition_id=definition_id, business_key=business_key,
                                status=status, version=1, state="{}", started_by="admin",
                                started_at=metric["started_at"], ended_at=metric.get("ended_at"),
                                variables=variables or {}))
    session.flush()
    session.add(CaseMetric(instance_id=instance_id, process_key=key, business_key=business_key, **metric))
    return instance_id


@pytest.fixture
def seeded(engine):
    return seed_dashboard_rows(engine)


def seed_dashboard_rows(engine) -> dict[str, str]:
    """Returns R1–R4 counted, R5 cancelled and R6 before the period; CAPAs C1–C6; two recalls. The instance id
    of each case by its business key."""
    with engine.db.transaction() as session:
        definition_id = session.scalar(select(ProcessDefinition.id))
        ids = {}

        def add(key, business_key, variables=None, **metric):
            ids[business_key] = _add_case(session, definition_id, key, business_key, variables, **metric)

        # returns: units 2 + 1 + 3 + 1 = 7
        add("returns", "R1", sku="A", reason="defect", region="north", channel="web", quantity=2, outcome="refund",
            grade="B", disposition="refurbish", fault_code="F1", recovered_value=30, cost_logistics=10, cost_parts=5,
            cost_labour=15, started_at=at("2025-03-01"), received_at=at("2025-03-03"), resolved_at=at("2025-03-06"))
        add("returns", "R2", sku="A", reason="defect", region="south", channel="shop", quantity=None,
            outcome="exchange", grade="A", disposition="restock", fault_code="F1", recovered_value=50,
            cost_logistics=20, cost_parts=0, cost_labour=10, started_at=at("2025-03-10"),
            received_at=at("2025-03-11"), resolved_at=at("2025-03-13"))
        add("returns", "R3", status="running", sku="B", reason="wrong_size", region="north", channel="web",
            quantity=3, outcome="refund", grade="C", disposition="scrap", fault_code="F2",
            started_at=at("2025-04-05"), received_at=at("2025-04-09"))
        add("returns", "R4", sku="B", reason="defect", region="north", channel="web", quantity=1, outcome="repair",
            disposition="return_to_supplier", fault_code="F1", recovered_value=20, cost_logistics=5,
            started_at=at("2025-04-20"), received_at=at("2025-04-26"), resolved_at=at("2025-04-30"))
        add("returns", "R5", status="cancelled", sku="A", reason="defect", region="north", quantity=9,
            fault_code="F1", started_at=at("2025-03-15"))
        add("returns", "R6", sku="A", reason="defect", region="north", quantity=4, fault_code="F1",
            started_at=at("2024-12-20"))
        for sku, month, region, units in [("A", date(2025, 3, 1), "", 100), ("A", date(2025, 3, 1), "north", 60),
                                          ("A", date(2025, 3, 1), "south", 40), ("B", date(2025, 4, 1), "north", 50),
                                          ("B", date(2025, 5, 1), "", 30), ("A", date(2024, 12, 1), "", 500)]:
            session.add(SalesVolume(sku=sku, month=month, region=region, units=units))

        # CAPA: cycle times C4 50 d, C5 20 d, C6 60 d
        add("capa", "C1", status="running", stage="D3", supplier="S1", fault_code="F1", started_at=at("2025-02-01"))
        add("capa", "C2", status="running", stage="D3", supplier="S2", fault_code="F2", started_at=at("2025-02-10"))
        add("capa", "C3", status="suspended", stage=None, supplier="S1", fault_code="F1", started_at=at("2025-03-01"))
        add("capa", "C4", stage="closed", supplier="S1", fault_code="F1", started_at=at("2025-01-10"),
            ended_at=at("2025-03-01"))
        add("capa", "C5", stage="closed", supplier="S2", fault_code="F2", started_at=at("2025-01-20"),
            ended_at=at("2025-02-09"))
        add("capa", "C6", stage="closed", fault_code="F3", started_at=at("2025-05-01"), ended_at=at("2025-06-30"))
        now = engine.now()  # 2026-01-05 09:00

        def task(business_key, element_id, due, state="ready"):
            session.add(HumanTask(id=str(uuid.uuid4()), instance_id=ids[business_key], element_id=element_id,
                                  name=element_id.title(), candidate_groups=["qa"], candidate_users=[], priority=50,
                                  due_at=due, form=[], state=state, created_at=at("2025-02-01")))

        task("C1", "containment", now - timedelta(days=4))
        task("C1", "approve", now + timedelta(days=27))
        task("C2", "containment", now - timedelta(days=35))
        task("C3", "team", None)
        task("C4", "containment", now - timedelta(days=300), state="completed")

        def check(business_key, effective):  # a completed check: its inbox row and its history event
            task_id = str(uuid.uuid4())
            session.add(HumanTask(id=task_id, instance_id=ids[business_key], element_id="verify_effectiveness",
                                  name="Verify effectiveness", candidate_groups=["qa"], candidate_users=[],
                                  priority=50, form=[], state="completed", created_at=at("2025-02-15"),
                                  completed_at=at("2025-02-20")))
            session.add(HistoryEvent(instance_id=ids[business_key], at=at("2025-02-20"), type="task_completed",
                                     actor="qa", element_id="verify_effectiveness", task_id=task_id,
                                     payload={"values": {"effective": effective}}, prev_hash="0" * 64,
                                     hash="1" * 64))

        check("C4", False)
        check("C4", True)
        check("C5", True)

        # recalls
        scope = {"consignees": [{"id": "D1", "kind": "distributor", "quantity": 100},
                                {"id": "D2", "kind": "retailer", "quantity": 50},
                                {"id": "K1", "kind": "consumer", "quantity": 1},
                                {"id": "K2", "kind": "consumer", "quantity": 2}],
                 "affectedLots": ["SKU1/LOT1"], "partnerCampaignId": "camp-t", "consumerCampaignId": "camp-c",
                 "effectivenessLevel": "B"}
        add("recall", "RC-1", scope, status="running", sku="SKU1", started_at=at("2025-12-01", 9))
        add("recall", "RC-2", {}, status="running", started_at=at("2025-12-20"))
        for campaign_id in ("camp-t", "camp-c"):
            session.add(Campaign(id=campaign_id, idempotency_key=campaign_id, name=campaign_id, template="recall",
                                 language="en", recipient_count=2, instance_id=ids["RC-1"], business_key="RC-1",
                                 created_at=at("2025-12-02")))
        session.flush()
        sent = at("2025-12-02")
        for campaign_id, recipient, delivered, opened, acknowledged in [
                ("camp-t", "D1", True, True, True), ("camp-t", "D2", True, False, False),
                ("camp-c", "K1", True, True, True), ("camp-c", "K2", False, False, False)]:
            session.add(Notification(
                id=uuid.uuid4().hex, idempotency_key=f"{campaign_id}:{recipient}", campaign_id=campaign_id,
                instance_id=ids["RC-1"], channel="email", recipient_id=recipient, address=f"{recipient}@x.test",
                language="en", template="recall", body="notice", status="delivered" if delivered else "failed",
                created_at=sent, updated_at=sent, sent_at=sent, delivered_at=sent if delivered else None,
                opened_at=sent if opened else None, acknowledged_at=sent if acknowledged else None))
        for location, step, quantity in [("D1", "returning", 40), ("D2", "destroying", 10), ("K1", "repairing", 1)]:
            session.add(TraceEvent(event_id=f"ev-{location}", kind="object", action="OBSERVE",
                                   event_time=at("2025-12-10"), biz_step=step, biz_location=location, sku="SKU1",
                                   lot="LOT1", quantity=quantity, epcs=[]))
    return ids


def _keys(page) -> list[str]:
    return sorted(row.business_key for row in page.rows)


def test_return_rates_against_units_sold(engine, seeded):
    board = engine.dashboards.returns(MANAGER, YEAR_2025)
    # sold: A 100 (the all-regions row, regional rows not added again) + B 50 (north only) + B 30 = 180
    assert (board.total.cases, board.total.units, board.total.sold) == (4, 7, 180)
    assert board.total.rate == pytest.approx(7 / 180)
    by_sku = {r.key: (r.cases, r.units, r.sold, r.rate) for r in board.by_sku}
    assert by_sku == {"A": (2, 3, 100, 0.03), "B": (2, 4, 80, 0.05)}
    by_reason = {r.key: (r.units, r.sold) for r in board.by_reason}
    assert by_reason == {"defect": (4, 180), "wrong_size": (3, 180)}
    by_region = {r.key: (r.units, r.sold) for r in board.by_region}
    assert by_region == {"north": (6, 110), "south": (1, 40)}
    months = {r.key: (r.units, r.sold, r.rate) for r in board.by_month}
    assert len(months) == 12
    assert months["2025-03"] == (3, 100, 0.03)
    assert months["2025-04"] == (4, 50, 0.08)
    assert months["2025-05"] == (0, 30, 0.0)
    assert months["2025-01"] == (0, None, None)


def test_turnaround_median_and_p90_in_days(engine, seeded):
    board = engine.dashboards.returns(MANAGER, YEAR_2025)
    steps = {s.step: (s.count, s.median_days, s.p90_days) for s in board.turnaround}
    # request→received [1, 2, 4, 6]; received→resolved [2, 3, 4]; request→resolved [3, 5, 10]
    assert steps["to_received"] == (4, pytest.approx(3.0), pytest.approx(5.4))
    assert steps["to_resolved"] == (3, pytest.approx(3.0), pytest.approx(3.8))
    assert steps["total"] == (3, pytest.approx(5.0), pytest.approx(9.0))
    monthly = {s.step: (s.count, s.median_days, s.p90_days) for s in board.turnaround_by_month}
    assert monthly == {"2025-03": (2, pytest.approx(4.0), pytest.approx(4.8)),
                       "2025-04": (1, pytest.approx(10.0), pytest.approx(10.0))}


def test_mixes_value_cost_reuse_and_pareto(engine, seeded):
    board = engine.dashboards.returns(MANAGER, YEAR_2025)
    assert {m.key: (m.cases, m.share) for m in board.grades} == {
        "A": (1, pytest.approx(1 / 3)), "B": (1, pytest.approx(1 / 3)), "C": (1, pytest.approx(1 / 3)),
        None: (1, None)}
    assert {m.key: (m.cases, m.share) for m in board.dispositions} == {
        "refurbish": (1, 0.25), "restock": (1, 0.25), "scrap": (1, 0.25), "return_to_supplier": (1, 0.25)}
    assert {m.key: (m.cases, m.share) for m in board.outcomes} == {"refund": (2, 0.5), "exchange": (1, 0.25),
                                                                   "repair": (1, 0.25)}
    assert board.value_recovered == 100
    cost = board.cost  # R1 30, R2 30, R4 5 over 3 costed returns
    assert cost.costed_cases == 3
    assert (cost.logistics, cost.parts, cost.labour, cost.total) == (
        pytest.approx(35 / 3), pytest.approx(5 / 3), pytest.approx(25 / 3), pytest.approx(65 / 3))
    assert cost.total_cost == 65
    reuse = board.reuse
    assert (reuse.cases, reuse.reuse, reuse.recycle, reuse.to_supplier) == (4, 2, 1, 1)
    assert (reuse.reuse_rate, reuse.recycle_rate, reuse.to_supplier_rate) == (0.5, 0.25, 0.25)
    assert [(p.fault_code, p.cases, p.share, p.cumulative_share) for p in board.pareto] == [
        ("F1", 3, 0.75, 0.75), ("F2", 1, 0.25, 1.0)]


def test_filters_narrow_the_returns(engine, seeded):
    only_b = engine.dashboards.returns(MANAGER, DashboardFilter(date(2025, 1, 1), date(2025, 12, 31), sku="B"))
    assert (only_b.total.units, only_b.total.sold, only_b.total.rate) == (4, 80, 0.05)
    north = engine.dashboards.returns(MANAGER, DashboardFilter(date(2025, 1, 1), date(2025, 12, 31), region="north"))
    assert (north.total.units, north.total.sold) == (6, 110)  # A north 60 + B north 50
    web = engine.dashboards.returns(MANAGER, DashboardFilter(date(2025, 1, 1), date(2025, 12, 31), channel="web"))
    assert (web.total.cases, web.total.units, web.total.rate) == (3, 6, None)  # sales carry no channel
    march = engine.dashboards.returns(MANAGER, DashboardFilter(date(2025, 3, 1), date(2025, 3, 31)))
    assert (march.total.cases, march.value_recovered) == (2, 80)
    default = engine.dashboards.returns(MANAGER, DashboardFilter())  # now 2026-01-05: from 2025-02-01
    assert (default.criteria.start, default.criteria.end) == (date(2025, 2, 1), date(2026, 1, 5))
    assert default.total.cases == 4


def test_drill_down_lists_the_cases_behind_a_bar(engine, seeded):
    cases = engine.dashboards.cases
    assert _keys(cases(MANAGER, YEAR_2025, "returns", "sku", "A")) == ["R1", "R2"]
    assert _keys(cases(MANAGER, YEAR_2025, "returns", "month", "2025-04")) == ["R3", "R4"]
    assert _keys(cases(MANAGER, YEAR_2025, "returns", "reuse", "recycle")) == ["R3"]
    assert _keys(cases(MANAGER, YEAR_2025, "returns", "grade", "")) == ["R4"]
    assert _keys(cases(MANAGER, YEAR_2025, "returns", "fault_code", "F1")) == ["R1", "R2", "R4"]
    assert _keys(cases(MANAGER, YEAR_2025, "returns", "resolved", "")) == ["R1", "R2", "R4"]
    narrowed = cases(MANAGER, DashboardFilter(date(2025, 1, 1), date(2025, 12, 31), channel="web"), "returns",
                     "sku", "B")
    assert (_keys(narrowed), narrowed.total, narrowed.pages) == (["R3", "R4"], 2, 1)
    assert _keys(cases(MANAGER, YEAR_2025, "capa", "stage", "D3")) == ["C1", "C2"]
    assert _keys(cases(MANAGER, YEAR_2025, "capa", "stage", "")) == ["C3"]
    assert _keys(cases(MANAGER, YEAR_2025, "capa", "overdue", "")) == ["C1", "C2"]
    assert _keys(cases(MANAGER, YEAR_2025, "capa", "recurred", "")) == ["C4", "C5"]
    assert _keys(cases(MANAGER, YEAR_2025, "capa", "supplier", "S1")) == ["C1", "C3", "C4"]
    with pytest.raises(InvalidInput) as refused:
        cases(MANAGER, YEAR_2025, "returns", "colour", "red")
    assert "dimension" in refused.value.errors
    with pytest.raises(NotFound):
        cases(MANAGER, YEAR_2025, "payroll", "sku", "A")


def test_capa_open_overdue_cycle_recurrence_and_groups(engine, seeded):
    board = engine.dashboards.capa(MANAGER, YEAR_2025)
    assert (board.cases, board.open, board.closed) == (6, 3, 3)
    assert [(s.stage, s.cases) for s in board.by_stage] == [("D3", 2), (None, 1)]
    assert [(o.element_id, o.tasks, o.cases) for o in board.overdue] == [("containment", 2, 2)]
    assert (board.overdue_tasks, board.overdue_cases) == (2, 2)
    assert (board.cycle.count, board.cycle.median, board.cycle.p90) == (
        3, pytest.approx(50.0), pytest.approx(58.0))  # [20, 50, 60]
    recurrence = board.recurrence
    assert (recurrence.checks, recurrence.not_effective) == (3, 1)
    assert recurrence.not_effective_share == pytest.approx(1 / 3)
    # C4 (F1, closed 03-01): R2 and R4 after it (R1 started at the same moment, R5 cancelled); C5 (F2): R3
    assert (recurrence.closed, recurrence.recurred, recurrence.returns_after) == (3, 2, 3)
    assert recurrence.recurred_share == pytest.approx(2 / 3)
    assert {(g.key, g.cases, g.open, g.closed) for g in board.by_supplier} == {
        ("S1", 3, 2, 1), ("S2", 2, 1, 1), (None, 1, 0, 1)}
    assert {(g.key, g.cases) for g in board.by_fault_code} == {("F1", 3), ("F2", 2), ("F3", 1)}
    only_s2 = engine.dashboards.capa(MANAGER, DashboardFilter(date(2025, 1, 1), date(2025, 12, 31), supplier="S2"))
    assert (only_s2.cases, [(s.stage, s.cases) for s in only_s2.by_stage], only_s2.overdue_tasks) == (
        2, [("D3", 1)], 1)


def test_recall_reach_and_effectiveness_per_audience(engine, seeded):
    board = engine.dashboards.recall(MANAGER, YEAR_2025)
    assert [r.business_key for r in board.recalls] == ["RC-2", "RC-1"]  # newest first
    unknown, recall = board.recalls
    assert (unknown.scope_known, unknown.audiences) == (False, ())
    assert (recall.days_since_start, recall.required_level, recall.level_reached) == (35, "B", "B")
    figures = {a.audience: (a.scope, a.consignees, a.notified, a.delivered, a.opened, a.acknowledged, a.returned,
                            a.corrected, a.destroyed) for a in recall.audiences}
    assert figures == {"trade": (150, 2, 2, 2, 1, 1, 40, 0, 10), "consumers": (3, 2, 2, 1, 1, 1, 0, 1, 0),
                       "total": (153, 4, 4, 3, 2, 2, 40, 1, 10)}
    shares = {a.audience: (a.accounted_share, a.acknowledged_share) for a in recall.audiences}
    assert shares == {"trade": (pytest.approx(1 / 3), 0.5), "consumers": (pytest.approx(1 / 3), 0.5),
                      "total": (pytest.approx(51 / 153), 0.5)}
    assert engine.dashboards.recall(MANAGER, DashboardFilter(date(2025, 1, 1), date(2025, 12, 10))).recalls[0] \
        .business_key == "RC-1"


def test_auditors_read_and_staff_are_refused(engine, seeded):
    assert engine.dashboards.returns(AUDITOR, YEAR_2025).total.cases == 4
    for read in (engine.dashboards.returns, engine.dashboards.recall, engine.dashboards.capa):
        with pytest.raises(Forbidden):
            read(STAFF, YEAR_2025)
    with pytest.raises(Forbidden):
        engine.dashboards.cases(STAFF, YEAR_2025, "returns", "sku", "A")


def test_a_period_ending_before_it_starts_is_refused(engine):
    with pytest.raises(InvalidInput) as refused:
        engine.dashboards.returns(MANAGER, DashboardFilter(date(2025, 5, 1), date(2025, 4, 1)))
    assert "to" in refused.value.errors


def test_a_period_outside_the_calendar_it_can_hold_is_refused(engine):
    with pytest.raises(InvalidInput) as refused:
        engine.dashboards.capa(MANAGER, DashboardFilter(end=date(1, 1, 4)))
    assert "to" in refused.value.errors
    with pytest.raises(InvalidInput) as refused:
        engine.dashboards.returns(MANAGER, DashboardFilter(start=date(1990, 1, 1), end=date(2025, 1, 1)))
    assert "from" in refused.value.errors  # more than 20 years
