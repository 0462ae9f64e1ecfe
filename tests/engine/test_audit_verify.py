"""`loopline audit verify` finds every kind of tampering: an edited event, a cut tail (with the head left, or
rewritten to the new last event), a deleted case; intact cases verify clean. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, update

from orchestrator.history import verify_chain
from orchestrator.models import HistoryEvent, ProcessInstance
from tasks.scheduler import run_scheduler
from tests.conftest import ADMIN, deploy_fixture
from tests.support.waiting import wait_for
from web.cli import main

AUDIT_KEY = "audit-key-for-tests"


@pytest.fixture
def cases(make_engine, database, monkeypatch, tmp_path):
    """Three refund cases (with a comment each, so every chain has several events) and `audit` on the CLI."""
    for name in ("LOOPLINE_DATABASE_URL", "CELERY_BROKER_URL", "LOOPLINE_CONNECTORS", "LOOPLINE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("LOOPLINE_HOME", str(tmp_path))
    monkeypatch.setenv("LOOPLINE_ENV", "test")
    monkeypatch.setenv("LOOPLINE_AUDIT_KEY", AUDIT_KEY)
    engine = make_engine(database, audit_key=AUDIT_KEY)
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    ids = []
    for number in range(3):
        row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key=f"RMA-{number}",
                                              variables={"amount": 100, "customer": "c"})
        engine.comments.add_comment(row.id, "called the customer", actor=ADMIN)
        ids.append(row.id)
    return engine, ids


def audit(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", *args], catch_exceptions=False)
    return result.exit_code, result.output


def failures(*args: str) -> list[dict]:
    code, output = audit("verify", "--json", *args)
    report = json.loads(output)
    assert code == (0 if report["ok"] else 1), output
    return report["failures"]


def events_of(engine, instance_id: str) -> list[HistoryEvent]:
    with engine.db.reading() as session:
        return list(session.scalars(select(HistoryEvent).where(HistoryEvent.instance_id == instance_id)
                                    .order_by(HistoryEvent.seq)))


def change(engine, statement) -> None:
    with engine.db.transaction() as session:
        session.execute(statement)


def delete_case(engine, instance_id: str) -> None:
    """Remove a case whole, rows and history, as someone with database access could."""
    with engine.db.transaction() as session:
        for table in ("human_task", "job", "message_subscription", "case_search", "incident"):
            session.execute(ProcessInstance.metadata.tables[table].delete()
                            .where(ProcessInstance.metadata.tables[table].c.instance_id == instance_id))
        session.execute(delete(HistoryEvent).where(HistoryEvent.instance_id == instance_id))
        session.execute(delete(ProcessInstance).where(ProcessInstance.id == instance_id))


def test_intact_cases_verify_clean_with_and_without_a_checkpoint(cases):
    engine, ids = cases
    code, output = audit("verify")
    assert code == 0 and "3 cases" in output and "intact" in output, output
    code, output = audit("checkpoint")
    assert code == 0 and "3 cases" in output, output
    engine.comments.add_comment(ids[0], "a later event: chains grow past the checkpoint", actor=ADMIN)
    assert failures() == []
    with engine.db.reading() as session:
        total = session.scalar(select(func.count()).select_from(HistoryEvent))
        row = session.get(ProcessInstance, ids[0])
        assert row.history_count == len(events_of(engine, ids[0])) and row.history_signature
    assert json.loads(audit("verify", "--json")[1])["events"] == total


def test_an_edited_event_is_named_by_case_check_and_seq(cases):
    engine, ids = cases
    edited = events_of(engine, ids[1])[1]
    change(engine, update(HistoryEvent).where(HistoryEvent.seq == edited.seq).values(actor="someone else"))
    assert [(f["check"], f["instance_id"], f["business_key"], f["seq"]) for f in failures()] == [
        ("chain", ids[1], "RMA-1", edited.seq)]
    code, output = audit("verify")
    assert code == 1 and f"FAILED chain\t{ids[1]}\tRMA-1\tseq {edited.seq}" in output, output


def test_a_cut_tail_is_found_by_the_head_left_on_the_instance(cases):
    engine, ids = cases
    last = events_of(engine, ids[2])[-1]
    change(engine, delete(HistoryEvent).where(HistoryEvent.seq == last.seq))
    assert {f["check"] for f in failures()} == {"head", "count"}
    assert {f["instance_id"] for f in failures()} == {ids[2]}


def test_a_cut_tail_with_a_rewritten_head_is_found_by_the_signature(cases):
    engine, ids = cases
    *kept, last = events_of(engine, ids[0])
    change(engine, delete(HistoryEvent).where(HistoryEvent.seq == last.seq))
    change(engine, update(ProcessInstance).where(ProcessInstance.id == ids[0])
           .values(history_head=kept[-1].hash, history_count=len(kept)))
    assert [(f["check"], f["instance_id"]) for f in failures()] == [("signature", ids[0])]


def test_a_deleted_case_is_found_by_the_last_checkpoint(cases):
    engine, ids = cases
    assert audit("checkpoint")[0] == 0
    delete_case(engine, ids[1])
    assert [(f["check"], f["instance_id"], f["business_key"]) for f in failures()] == [
        ("deleted-case", ids[1], "RMA-1")]


def test_the_sweep_loop_signs_checkpoints_by_itself_only_when_heads_moved(cases, monkeypatch):
    """`loopline beat` (and the embedded mode) checkpoint on their own, so a case deleted whole is found
    without anyone having run `audit checkpoint`; a quiet system adds no checkpoint."""
    engine, ids = cases
    monkeypatch.setattr(engine, "settings", dataclasses.replace(engine.settings, audit_checkpoint_interval=0.05))
    table = ProcessInstance.metadata.tables["audit_checkpoint"]

    def checkpoints() -> int:
        with engine.db.reading() as session:
            return session.scalar(select(func.count()).select_from(table))

    stop = threading.Event()
    sweeper = threading.Thread(target=run_scheduler, args=(engine, stop), daemon=True)
    sweeper.start()
    try:
        wait_for(lambda: checkpoints() == 1, what="the first checkpoint")
        time.sleep(0.3)  # several intervals with nothing changed
        assert checkpoints() == 1
        engine.comments.add_comment(ids[0], "the head moves", actor=ADMIN)
        wait_for(lambda: checkpoints() == 2, what="a checkpoint of the new head")
    finally:
        stop.set()
        sweeper.join(timeout=10)
    assert failures() == []
    delete_case(engine, ids[2])
    assert [(f["check"], f["instance_id"]) for f in failures()] == [("deleted-case", ids[2])]


def test_a_forged_checkpoint_is_refused(cases):
    engine, ids = cases
    assert audit("checkpoint")[0] == 0
    table = ProcessInstance.metadata.tables["audit_checkpoint"]
    change(engine, update(table).values(entries=[]))
    assert [f["check"] for f in failures()] == ["checkpoint-signature"]


def test_heads_from_before_signing_are_reported_until_signed(cases):
    engine, ids = cases
    change(engine, update(ProcessInstance).values(history_signature=None))
    assert {(f["check"]) for f in failures()} == {"unsigned"}
    code, output = audit("sign-heads")
    assert code == 0 and "signed 3" in output, output
    assert failures() == []


def test_the_case_page_check_reads_the_signed_head_not_every_hash(cases):
    engine, ids = cases
    assert engine.case_views.case_view(ADMIN, ids[0]).first_altered_event is None
    *kept, last = events_of(engine, ids[0])
    change(engine, delete(HistoryEvent).where(HistoryEvent.seq == last.seq))
    assert engine.case_views.case_view(ADMIN, ids[0]).first_altered_event == kept[-1].seq
    change(engine, update(ProcessInstance).where(ProcessInstance.id == ids[0])
           .values(history_head=kept[-1].hash, history_count=len(kept)))
    assert engine.case_views.case_view(ADMIN, ids[0]).first_altered_event == kept[-1].seq
    with engine.db.reading() as session:
        assert verify_chain(session, ids[0]) is None  # the chain itself is whole: only the signature tells
