"""Time of `loopline audit verify` over a million history events (reports only, asserts nothing).

Run:   python -m bench.audit_verify [--quick] [--cases N] [--events-per-case M]
       SQLite always; PostgreSQL as well when DATABASE_URL is set (the schema `loopline_bench`, made anew).

The history is filled in bulk, not through commands: N cases (default 20,000) of M events (default 50) with
correct chains and signed heads, plus one checkpoint. Figure "audit_verify": seconds to verify every case
(one streamed pass, as the CLI does), events per second, and whether the report came out clean; the seconds
the fill and the checkpoint took are reported too.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from bench.backends import Backend, fresh_database_url, sqlite_backend
from bench.rounds import emit
from orchestrator.audit import verify_all
from orchestrator.checkpoints import write_checkpoint
from orchestrator.db import Database
from orchestrator.history import GENESIS, chain_hash, sign_head
from orchestrator.models import Deployment, HistoryEvent, ProcessDefinition, ProcessInstance

KEY = b"bench-audit-key"
BATCH_CASES = 500
ELEMENTS = ("check_claim", "approve_refund", "adjust_stock", "notify_customer")


def fill(db: Database, cases: int, events_per_case: int) -> int:
    """Insert `cases` instances with `events_per_case` chained events each, in bulk; the definition's id."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with db.engine.begin() as connection:
        deployment_id = connection.execute(insert(Deployment.__table__).returning(Deployment.__table__.c.id), {
            "name": "bench", "content_hash": "0" * 64, "deployed_by": "bench", "deployed_at": start}).scalar_one()
        definition_id = connection.execute(
            insert(ProcessDefinition.__table__).returning(ProcessDefinition.__table__.c.id),
            {"deployment_id": deployment_id, "key": "bench_audit", "version": 1, "content_hash": "0" * 64,
             "start_messages": []}).scalar_one()
    for first in range(0, cases, BATCH_CASES):
        instances, events = [], []
        for number in range(first, min(first + BATCH_CASES, cases)):
            instance_id, prev = str(uuid.UUID(int=number + 1)), GENESIS
            for index in range(events_per_case):
                at = start + timedelta(seconds=number, microseconds=index)
                element = ELEMENTS[index % len(ELEMENTS)]
                payload = {"index": index, "amount": number % 9000, "note": "refund approved"}
                digest = chain_hash(prev, instance_id, at, "element_completed", "bench", element, None, payload)
                events.append({"instance_id": instance_id, "at": at, "type": "element_completed", "actor": "bench",
                               "element_id": element, "task_id": None, "payload": payload, "prev_hash": prev,
                               "hash": digest})
                prev = digest
            instances.append({"id": instance_id, "definition_id": definition_id, "business_key": f"RMA-{number}",
                              "status": "completed", "version": 1, "state": "", "started_by": "bench",
                              "started_at": start, "variables": {}, "history_head": prev,
                              "history_count": events_per_case,
                              "history_signature": sign_head(KEY, instance_id, events_per_case, prev)})
        with db.engine.begin() as connection:
            connection.execute(insert(ProcessInstance.__table__), instances)
            connection.execute(insert(HistoryEvent.__table__), events)
    return definition_id


def measure(backend: Backend, cases: int, events_per_case: int) -> None:
    db = Database(fresh_database_url(backend))
    try:
        db.create_schema()
        started = time.perf_counter()
        fill(db, cases, events_per_case)
        if backend.is_postgres:
            with db.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE history_event")
                connection.exec_driver_sql("ANALYZE process_instance")
                connection.commit()
        filled = time.perf_counter() - started
        started = time.perf_counter()
        with db.engine.begin() as connection:
            write_checkpoint(connection, KEY, datetime.now(UTC))
        checkpointed = time.perf_counter() - started
        started = time.perf_counter()
        report = verify_all(db, KEY)
        verified = time.perf_counter() - started
        with db.engine.connect() as connection:
            stored = connection.scalar(select(HistoryEvent.__table__.c.seq).order_by(
                HistoryEvent.__table__.c.seq.desc()).limit(1))
    finally:
        db.dispose()
    emit("audit_verify", backend=backend.name, cases=report.cases, events=report.events, stored_events=stored,
         ok=report.ok, failures=len(report.failures), verify_seconds=round(verified, 2),
         events_per_second=round(report.events / verified), checkpoint_seconds=round(checkpointed, 2),
         fill_seconds=round(filled, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 cases of 50 events")
    parser.add_argument("--cases", type=int, help="cases (default 20,000; quick 2,000)")
    parser.add_argument("--events-per-case", type=int, default=50)
    parser.add_argument("--postgres-only", action="store_true", help="skip SQLite")
    args = parser.parse_args()
    cases = args.cases or (2_000 if args.quick else 20_000)
    backends = [] if args.postgres_only else [sqlite_backend()]
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith("postgresql"):
        backends.append(Backend("postgres", database_url, ""))
    for backend in backends:
        measure(backend, cases, args.events_per_case)


if __name__ == "__main__":
    main()
