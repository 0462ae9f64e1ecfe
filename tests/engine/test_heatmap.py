"""The heatmap's figures and the SLA forecast, read from element_stat rows seeded by hand (SQLite and PostgreSQL):
every median, p90, overdue share and flow share below is computed by hand from the bucket representatives."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from orchestrator.actors import Actor
from orchestrator.definitions import ModelFile
from orchestrator.element_stats import bucket_seconds
from orchestrator.errors import Forbidden, InvalidInput, NotFound
from orchestrator.heatmap import element_times, version_heatmap
from orchestrator.metric_models import ElementStat
from orchestrator.models import HumanTask, HumanTaskState, ProcessDefinition, ProcessInstance
from orchestrator.sla_forecast import MIN_PASSES, open_task_forecasts
from tests.conftest import ADMIN, FIXTURES

MANAGER = Actor("mia", roles=frozenset({"manager"}))
AUDITOR = Actor("audrey", roles=frozenset({"auditor"}))
STAFF = Actor("sam", roles=frozenset({"staff"}))


def _deploy_two_versions(engine) -> tuple[int, int]:
    """refund_claim v1 (the engine fixture's) and a v2 differing only in a name."""
    text = (FIXTURES / "refund_claim.bpmn").read_text(encoding="utf-8")
    dmn = ModelFile("routing.dmn", (FIXTURES / "routing.dmn").read_text(encoding="utf-8"))
    engine.deployments.deploy([ModelFile("refund_claim.bpmn", text.replace('name="Claim filed"',
                                                                           'name="Claim received"')), dmn],
                              actor=ADMIN)
    with engine.db.reading() as session:
        ids = session.scalars(select(ProcessDefinition.id).where(ProcessDefinition.key == "refund_claim")
                              .order_by(ProcessDefinition.version)).all()
    assert len(ids) == 2
    return ids[0], ids[1]


def _seed_stats(engine, rows) -> None:
    """(definition_id, element_id, bucket, shard, passes, overdue) rows; seconds are not read by the heatmap."""
    with engine.db.transaction() as session:
        for definition_id, element_id, bucket, shard, passes, overdue in rows:
            session.add(ElementStat(definition_id=definition_id, element_id=element_id, bucket=bucket, shard=shard,
                                    passes=passes, overdue=overdue, seconds=passes * bucket_seconds(bucket)))


def _seed_instances(engine, definition_id: int, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with engine.db.transaction() as session:
        for number, instance_id in enumerate(ids):
            session.add(ProcessInstance(id=instance_id, definition_id=definition_id, business_key=f"RC-{number}",
                                        status="running", version=1, state="{}", started_by="admin",
                                        started_at=engine.now(), variables={}))
    return ids


@pytest.fixture
def versions(engine):
    v1, v2 = _deploy_two_versions(engine)
    _seed_stats(engine, [
        # approve, v1: {20: 5, 30: 4} with 3 late passes; v2: {10: 1}
        (v1, "approve", 20, 0, 3, 1), (v1, "approve", 20, 1, 2, 0), (v1, "approve", 30, 0, 4, 2),
        (v2, "approve", 10, 3, 1, 0),
        (v1, "refund", 0, 0, 4, 0),
        (v1, "start", 0, 0, 4, 0),
        (v1, "start>route", -1, 0, 4, 0),
        (v1, "gw_amount>approve", -1, 0, 2, 0), (v1, "gw_amount>approve", -1, 5, 1, 0),
        (v1, "gw_amount>refund", -1, 2, 1, 0),
        (v2, "gw_amount>refund", -1, 2, 7, 0),
        (9999, "approve", 5, 0, 50, 50),  # a definition of no process: never counted
    ])
    _seed_instances(engine, v1, 4)
    return v1, v2


def test_element_times_merge_all_versions_of_the_key(engine, versions):
    with engine.db.reading() as session:
        times = {t.element_id: t for t in element_times(session, "refund_claim")}
    assert set(times) == {"approve", "refund", "start"}  # flows are not elements
    approve = times["approve"]
    # merged {10: 1, 20: 5, 30: 4}: the median (rank 5) falls in bucket 20, the p90 (rank 9) in bucket 30
    assert approve.passes == 10
    assert approve.median_seconds == pytest.approx(bucket_seconds(20))
    assert approve.p90_seconds == pytest.approx(bucket_seconds(30))
    assert approve.overdue_share == pytest.approx(0.3)
    assert approve.name is None  # no names given to the plain function
    assert times["refund"].median_seconds == 0.5 and times["refund"].overdue_share == 0.0


def test_version_heatmap_counts_one_version_and_its_flow_shares(engine, versions):
    v1, _ = versions
    with engine.db.reading() as session:
        heatmap = version_heatmap(session, v1)
    assert (heatmap.key, heatmap.version, heatmap.instances) == ("refund_claim", 1, 4)
    approve = next(e for e in heatmap.elements if e.element_id == "approve")
    # v1 alone: {20: 5, 30: 4}; the median's rank 4.5 is in bucket 20, the p90's rank 8.1 in bucket 30
    assert approve.passes == 9
    assert approve.median_seconds == pytest.approx(bucket_seconds(20))
    assert approve.p90_seconds == pytest.approx(bucket_seconds(30))
    assert approve.overdue_share == pytest.approx(3 / 9)
    flows = {f.element_id: (f.source, f.target, f.passes, f.share) for f in heatmap.flows}
    assert flows == {"start>route": ("start", "route", 4, 1.0),
                     "gw_amount>approve": ("gw_amount", "approve", 3, 0.75),
                     "gw_amount>refund": ("gw_amount", "refund", 1, 0.25)}


def test_the_query_group_names_elements_and_refuses_staff(engine, versions):
    heatmap = engine.heatmaps.version(MANAGER, "refund_claim", 1)
    approve = next(e for e in heatmap.elements if e.element_id == "approve")
    assert approve.name == "Approve refund"
    assert engine.heatmaps.version(AUDITOR, "refund_claim", 1).instances == 4
    # v2 has no case rows: its start event has no passes either, so no share can be given
    v2 = engine.heatmaps.version(MANAGER, "refund_claim", 2)
    assert v2.instances == 0 and [(f.passes, f.share) for f in v2.flows] == [(7, None)]
    assert {t.element_id: t.passes for t in engine.heatmaps.process_times(MANAGER, "refund_claim")} == {
        "approve": 10, "refund": 4, "start": 4}
    with pytest.raises(Forbidden):
        engine.heatmaps.version(STAFF, "refund_claim", 1)
    with pytest.raises(Forbidden):
        engine.heatmaps.process_times(STAFF, "refund_claim")
    with pytest.raises(Forbidden):
        engine.heatmaps.at_risk(STAFF)
    with pytest.raises(NotFound):
        engine.heatmaps.version(MANAGER, "refund_claim", 3)
    with pytest.raises(NotFound):
        engine.heatmaps.version(MANAGER, "refund_claim", 2**40)
    with pytest.raises(NotFound):
        engine.heatmaps.process_times(MANAGER, "no_such_process")


def test_the_start_event_counts_cases_whose_rows_were_pruned(engine, versions):
    _, v2 = versions
    _seed_stats(engine, [(v2, "start", 0, 0, 14, 0)])
    v2_map = engine.heatmaps.version(MANAGER, "refund_claim", 2)
    assert v2_map.instances == 14 and v2_map.flows[0].share == pytest.approx(0.5)


def _task(instance_id: str, element_id: str, *, created, due, state=HumanTaskState.READY) -> HumanTask:
    return HumanTask(id=str(uuid.uuid4()), instance_id=instance_id, element_id=element_id, name=element_id,
                     candidate_groups=["sales_manager"], candidate_users=[], priority=50, form=[], state=state,
                     created_at=created, due_at=due)


def test_the_forecast_flags_at_risk_and_overdue_tasks(engine, clock):
    v1, v2 = _deploy_two_versions(engine)
    slow = 1 + 4 * 17  # bucket 69: about 37 hours
    quick = 1 + 4 * 12  # bucket 49: about 1.2 hours
    # approve: 10 quick passes on v1, 15 slow ones on v2: the p75 (rank 18.75) is a slow one
    # remind: MIN_PASSES - 1 passes: too little history for a prediction
    _seed_stats(engine, [(v1, "approve", quick, 0, 10, 0), (v2, "approve", slow, 1, 15, 4),
                         (v1, "remind", quick, 0, MIN_PASSES - 1, 0)])
    deploy = [ModelFile("assigned_review.bpmn", (FIXTURES / "assigned_review.bpmn").read_text(encoding="utf-8"))]
    engine.deployments.deploy(deploy, actor=ADMIN)
    with engine.db.reading() as session:
        other = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == "assigned_review"))
    _seed_stats(engine, [(other, "approve", 0, 0, 500, 0)])  # another process's "approve": not merged in
    now = clock.now()
    [case] = _seed_instances(engine, v2, 1)
    tasks = {
        "at_risk": _task(case, "approve", created=now - timedelta(hours=1), due=now + timedelta(hours=5)),
        "in_time": _task(case, "approve", created=now - timedelta(hours=1), due=now + timedelta(days=5)),
        "overdue": _task(case, "approve", created=now - timedelta(days=3), due=now - timedelta(minutes=1)),
        "no_history": _task(case, "remind", created=now - timedelta(hours=1), due=now + timedelta(minutes=5)),
        "done": _task(case, "approve", created=now - timedelta(hours=1), due=now + timedelta(hours=5),
                      state=HumanTaskState.COMPLETED),
        "no_due_date": _task(case, "approve", created=now - timedelta(hours=1), due=None),
    }
    with engine.db.transaction() as session:
        session.add_all(tasks.values())
    names = {task.id: name for name, task in tasks.items()}

    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine.db.engine, "before_cursor_execute", listener)
    try:
        with engine.db.reading() as session:
            forecasts = open_task_forecasts(session, now)
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", listener)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2  # no query per task

    by_name = {names[f.task_id]: f for f in forecasts}
    assert set(by_name) == {"at_risk", "in_time", "overdue", "no_history"}
    expected = tasks["at_risk"].created_at + timedelta(seconds=bucket_seconds(slow))
    assert by_name["at_risk"].predicted_at == expected
    assert (by_name["at_risk"].at_risk, by_name["at_risk"].overdue) == (True, False)
    assert (by_name["in_time"].at_risk, by_name["in_time"].overdue) == (False, False)
    assert (by_name["overdue"].at_risk, by_name["overdue"].overdue) == (False, True)
    assert by_name["no_history"].predicted_at is None and not by_name["no_history"].flagged
    assert by_name["at_risk"].business_key == "RC-0" and by_name["at_risk"].process_key == "refund_claim"

    flagged = engine.heatmaps.at_risk(MANAGER, now)
    assert [names[f.task_id] for f in flagged.items] == ["overdue", "at_risk"]  # soonest due first
    second = engine.heatmaps.at_risk(MANAGER, now, limit=1, offset=1)  # paged: the list can be long
    assert [names[f.task_id] for f in second.items] == ["at_risk"] and second.total == 2
    with pytest.raises(InvalidInput):
        engine.heatmaps.at_risk(MANAGER, now, limit=0)
    assert engine.heatmaps.likely_late([t.id for t in tasks.values()], now) == {tasks["at_risk"].id: expected}
    assert engine.heatmaps.likely_late([], now) == {}
