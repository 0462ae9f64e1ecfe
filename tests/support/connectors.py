"""Test connectors, loadable in a separate worker process via LOOPLINE_CONNECTORS=tests.support.connectors.

Like a real ERP, the ledger honours the idempotency key: a repeated call with the same key changes
nothing and returns the first result. Calls and effects are counted in a SQLite file shared between
processes (LOOPLINE_TEST_LEDGER), so a test can prove a side effect happened exactly once.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

from integrations.registry import BusinessError, JobContext, TransientError


class Ledger:
    def __init__(self, path: str):
        self.path = path
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS effect (key TEXT PRIMARY KEY, topic TEXT, payload TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS call (id INTEGER PRIMARY KEY, key TEXT, topic TEXT, attempt INT)")
            db.execute("CREATE TABLE IF NOT EXISTS script (topic TEXT, outcome TEXT, seq INTEGER PRIMARY KEY)")

    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def record_call(self, context: JobContext) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO call (key, topic, attempt) VALUES (?, ?, ?)",
                       (context.idempotency_key, context.topic, context.attempt))

    def apply_once(self, context: JobContext, payload: str) -> bool:
        with self._connect() as db:
            return db.execute("INSERT OR IGNORE INTO effect (key, topic, payload) VALUES (?, ?, ?)",
                              (context.idempotency_key, context.topic, payload)).rowcount == 1

    def next_outcome(self, topic: str) -> str | None:
        """Pop the next scripted outcome: 'transient', 'business:CODE', 'sleep:S', 'apply-then-sleep:S'."""
        with self._connect() as db:
            row = db.execute("SELECT seq, outcome FROM script WHERE topic = ? ORDER BY seq LIMIT 1", (topic,)).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM script WHERE seq = ?", (row[0],))
            return row[1]

    def script(self, topic: str, *outcomes: str) -> None:
        with self._connect() as db:
            for outcome in outcomes:
                db.execute("INSERT INTO script (topic, outcome) VALUES (?, ?)", (topic, outcome))

    def effects(self, topic: str | None = None) -> list[tuple[str, str]]:
        with self._connect() as db:
            query = "SELECT key, payload FROM effect" + (" WHERE topic = ?" if topic else "")
            return db.execute(query, (topic,) if topic else ()).fetchall()

    def calls(self, topic: str | None = None) -> list[tuple[str, int]]:
        with self._connect() as db:
            query = "SELECT key, attempt FROM call" + (" WHERE topic = ?" if topic else "") + " ORDER BY id"
            return db.execute(query, (topic,) if topic else ()).fetchall()


class LedgerConnector:
    """Applies an idempotent side effect, following the ledger's scripted outcomes first."""

    timeout = 5.0
    system = None

    def __init__(self, topic: str, ledger: Ledger):
        self.topic = topic
        self.ledger = ledger

    def run(self, variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
        self.ledger.record_call(context)
        outcome = self.ledger.next_outcome(self.topic)
        if outcome == "transient":
            raise TransientError("scripted transient failure")
        if outcome and outcome.startswith("business:"):
            raise BusinessError(outcome.split(":", 1)[1], "scripted business rejection")
        if outcome and outcome.startswith("sleep:"):
            time.sleep(float(outcome.split(":", 1)[1]))
        applied = self.ledger.apply_once(context, repr(sorted(variables.items())))
        if outcome and outcome.startswith("apply-then-sleep:"):
            time.sleep(float(outcome.split(":", 1)[1]))  # dies here when the test kills the worker
        return {f"{self.topic.replace('.', '_')}_done": True, "firstApplication": applied}


TEST_TOPICS = ("test.refund", "test.stock")


def register(registry) -> None:
    """Entry point used by LOOPLINE_CONNECTORS."""
    ledger = Ledger(os.environ["LOOPLINE_TEST_LEDGER"])
    for topic in TEST_TOPICS:
        registry.register(LedgerConnector(topic, ledger))
