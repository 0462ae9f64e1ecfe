"""`recall.progress` for the recall tests whose notices go to recording connectors (no campaigns are stored):
answers with the shape of integrations/recall_progress.py, the figures the test scripts in the ledger
(`ledger.script("recall.progress", 'result:{"consumers": {...}, "total": {...}}')`), zeros otherwise. The recall
scenarios install it on the engine they are given, so it also serves when another test runs them."""

from __future__ import annotations

import json
import os
from typing import Any

from integrations.recall_progress import AUDIENCES, OUTCOMES, audience_of
from integrations.registry import JobContext
from tests.support.connectors import Ledger, LedgerConnector

COUNTS = ("notified", "responded", "quantityOnHand", "nonResponders", "accounted", *OUTCOMES)


class RecallProgressAnswers(LedgerConnector):
    def run(self, variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
        self.ledger.record_call(context)
        figures = {audience: {"scopeQuantity": 0.0, "consignees": 0, "remedies": {}, "percentOfScope": 0.0,
                              **{name: 0 for name in COUNTS}} for audience in AUDIENCES}
        for consignee in variables.get("consignees") or []:
            figures[audience_of(consignee.get("kind"))]["scopeQuantity"] += float(consignee.get("quantity") or 0)
            figures[audience_of(consignee.get("kind"))]["consignees"] += 1
        total = {name: sum(figures[a][name] for a in AUDIENCES) for name in ("scopeQuantity", "consignees", *COUNTS)}
        progress = {**figures, "total": {**total, "percentOfScope": 0.0}, "rmas": []}
        outcome = self.ledger.next_outcome(self.topic) or ""
        if outcome.startswith("result:"):
            for part, values in json.loads(outcome.split(":", 1)[1]).items():
                progress[part].update(values)
        return {"recallProgress": progress}


def answer_recall_progress(engine) -> None:
    """Replace the engine's `recall.progress` (its campaigns are not stored when notices go to the ledger)."""
    engine.connectors.register(RecallProgressAnswers("recall.progress", Ledger(os.environ["LOOPLINE_TEST_LEDGER"])))
