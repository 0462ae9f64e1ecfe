"""`loopline audit reexecute`: every completed case (or one case) run again and compared with its history; a
changed record is named by case and step, and the exit code is 1."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from orchestrator.actors import Actor
from orchestrator.models import HistoryEvent, InstanceStatus
from tests.conftest import deploy_fixture
from tests.support import inspect
from web.cli import main

CLERK = Actor("carl", groups=frozenset({"customer_service"}), roles=frozenset({"staff"}))
CARRIER = Actor("carrier", roles=frozenset({"integration"}))


@pytest.fixture
def cases(make_engine, database, monkeypatch, tmp_path):
    """Two refund claims that completed (job result and parcel message) and one still waiting for its parcel."""
    for name in ("LOOPLINE_DATABASE_URL", "CELERY_BROKER_URL", "LOOPLINE_SECRET_KEY", "LOOPLINE_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("LOOPLINE_HOME", str(tmp_path))
    monkeypatch.setenv("LOOPLINE_ENV", "test")
    monkeypatch.setenv("LOOPLINE_CONNECTORS", "tests.support.connectors")
    engine = make_engine(database)
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    ids = []
    for number in range(3):
        row = engine.instances.start_instance("refund_claim", actor=CLERK, business_key=f"RMA-{number}",
                                              variables={"amount": 700, "customer": "ACME"})
        assert inspect.run_pending_jobs(engine, row.id) == ["completed"]
        if number < 2:
            engine.messages.correlate_message("ParcelReceived", actor=CARRIER, business_key=f"RMA-{number}",
                                              variables={"carrier": "DHL"})
            assert inspect.instance(engine, row.id).status == InstanceStatus.COMPLETED
        ids.append(row.id)
    return engine, ids


def reexecute(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", "reexecute", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_every_completed_case_matches(cases):
    _engine, ids = cases
    code, output = reexecute("--all")
    assert code == 0, output
    assert output.count("OK\t") == 2 and ids[2] not in output
    assert output.splitlines()[-1] == "2 case(s) re-executed: all match"
    code, output = reexecute("--all", "--json")
    report = json.loads(output)
    assert (code, report["ok"], report["cases"]) == (0, True, 2)
    assert sorted(r["instanceId"] for r in report["reports"]) == sorted(ids[:2])
    assert reexecute(ids[2])[0] == 0  # a running case can be checked by its id


def test_a_changed_record_is_named_by_case_and_step_with_exit_code_1(cases):
    engine, ids = cases
    with engine.db.transaction() as session:
        message = session.scalars(select(HistoryEvent).where(
            HistoryEvent.instance_id == ids[1], HistoryEvent.type == "message_correlated")).one()
        session.execute(update(HistoryEvent).where(HistoryEvent.seq == message.seq).values(
            payload={**message.payload, "variables": {"carrier": "UPS"}}))
    code, output = reexecute("--all")
    assert code == 1, output
    assert f"OK\t{ids[0]}" in output and f"DIFFERS\t{ids[1]}\tRMA-1\trefund_claim v1" in output
    [step_line] = [line for line in output.splitlines() if line.startswith("  step")]
    assert step_line.startswith("  step 3 (seq ") and "message_correlated" in step_line
    assert 'carrier: set "DHL" -> set "UPS"' in step_line
    assert output.splitlines()[-1] == "2 case(s) re-executed: 1 differ"

    code, output = reexecute(ids[1], "--json")
    report = json.loads(output)
    assert (code, report["ok"], report["differing"]) == (1, False, 1)
    [step] = [s for s in report["reports"][0]["steps"] if not s["matches"]]
    assert (step["number"], step["input"]) == (3, "message_correlated")


def test_a_case_id_or_all_is_required(cases):
    assert reexecute()[0] == 2
    code, output = reexecute("no-such-case")
    assert code == 1 and "process instance 'no-such-case' does not exist" in output
