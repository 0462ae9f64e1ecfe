"""recall.progress and trace.record_event refuse bad input with the field at fault and change nothing; an
outcome told twice is recorded once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from integrations.db import IntegrationsBase
from integrations.registry import BusinessError, JobContext
from integrations.traceability.models import TraceEvent

SCOPE = {"consignees": [{"id": "GLN-D1", "kind": "distributor", "quantity": 100},
                        {"id": "CUST-1", "kind": "consumer", "quantity": 1}],
         "affectedLots": ["KETTLE-2/L-7"]}
RMA_OUTCOME = {"eventId": "RMA-RC-2026-001-CUST-1", "bizStep": "returning", "sku": "KETTLE-2", "lot": "L-7",
               "quantity": 1, "location": "CUST-1"}


@pytest.fixture
def engine(make_engine, sqlite_database):
    engine = make_engine(sqlite_database, connector_modules=())
    IntegrationsBase.metadata.create_all(engine.db.engine)
    return engine


def run(engine, topic: str, variables: dict, attempt: int = 1):
    job = JobContext(1, "instance-1", "RC-2026-001", "step", topic, attempt, f"{topic}-key")
    return engine.connectors.get(topic).run(variables, job)


def events(engine) -> int:
    with engine.db.reading() as session:
        return session.scalar(select(func.count()).select_from(TraceEvent))


def test_a_unit_returned_and_then_destroyed_counts_once_by_its_latest_outcome(engine, clock):
    run(engine, "trace.record_event", {**RMA_OUTCOME, "serial": "K2-1"})
    clock.advance(hours=1)
    run(engine, "trace.record_event", {**RMA_OUTCOME, "eventId": "K2-1-scrapped", "bizStep": "destroying",
                                       "serial": "K2-1"})
    progress = run(engine, "recall.progress", SCOPE)["recallProgress"]
    assert (progress["consumers"]["returned"], progress["consumers"]["destroyed"]) == (0.0, 1.0)
    assert progress["consumers"]["percentOfScope"] == 100.0


@pytest.mark.parametrize(("change", "named"), [
    ({"consignees": "GLN-D1"}, "consignees"),
    ({"consignees": [{"kind": "consumer"}]}, "consignees"),
    ({"affectedLots": []}, "affectedLots"),
    ({"affectedLots": ["L-7"]}, "affectedLots"),
    ({"partnerCampaignId": "CMP-404"}, "CMP-404"),
])
def test_progress_refuses_a_scope_or_campaign_it_cannot_count(engine, change, named):
    with pytest.raises(BusinessError) as refused:
        run(engine, "recall.progress", {**SCOPE, **change})
    assert refused.value.code == "E_INVALID_INPUT" and named in refused.value.message


def test_progress_counts_outcomes_of_the_recalled_lots_by_audience(engine):
    run(engine, "trace.record_event", RMA_OUTCOME)
    run(engine, "trace.record_event", {**RMA_OUTCOME, "eventId": "D1-destroyed", "bizStep": "destroying",
                                       "quantity": 40, "location": "GLN-D1"})
    run(engine, "trace.record_event", {**RMA_OUTCOME, "eventId": "D1-other-lot", "lot": "L-8", "quantity": 9,
                                       "location": "GLN-D1"})
    progress = run(engine, "recall.progress", {**SCOPE, "rmaPrefix": "RMA-RC-2026-001-"})["recallProgress"]
    assert (progress["consumers"]["returned"], progress["consumers"]["percentOfScope"]) == (1.0, 100.0)
    assert (progress["trade"]["destroyed"], progress["trade"]["returned"], progress["trade"]["percentOfScope"]) == (
        40.0, 0.0, 40.0)
    assert (progress["total"]["accounted"], progress["total"]["scopeQuantity"]) == (41.0, 101.0)
    assert progress["rmas"] == []  # nobody acknowledged a notice: no RMA was asked for


@pytest.mark.parametrize(("change", "named"), [
    ({"eventId": ""}, "eventId is required"),
    ({"bizStep": None}, "bizStep is required"),
    ({"location": ""}, "location is required"),
    ({"quantity": -1}, "quantity must be a number of at least 0"),
    ({"quantity": "many"}, "quantity must be a number of at least 0"),
    ({"eventId": "x" * 101}, "eventId must be at most 100 characters"),
])
def test_record_event_refuses_bad_input_and_records_nothing(engine, change, named):
    with pytest.raises(BusinessError) as refused:
        run(engine, "trace.record_event", {**RMA_OUTCOME, **change})
    assert refused.value.code == "E_INVALID_INPUT" and named in refused.value.message
    assert events(engine) == 0


def test_an_outcome_told_twice_is_recorded_once(engine):
    first = run(engine, "trace.record_event", RMA_OUTCOME)
    again = run(engine, "trace.record_event", {**RMA_OUTCOME, "quantity": 5}, attempt=2)
    assert first == again and events(engine) == 1
