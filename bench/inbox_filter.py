"""Inbox benchmark (reports only, asserts nothing): one JSON line per result.

10,000 open return tasks for the warehouse group; a warehouse person's inbox page, first unfiltered (the
baseline), then filtered on a summary field (text search over business key and summary fields, as the
search box does) and on one variable's value. Prints milliseconds per call and the ratio to the baseline,
for the engine query and for the whole HTML page (Flask test client, signed in).

Run: python -m bench.inbox_filter [--tasks 10000] [--repeat 20]
SQLite by default; DATABASE_URL (PostgreSQL) runs it there, in its own schema.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert

from bench.backends import BENCH_SCHEMA
from orchestrator.actors import Actor
from orchestrator.db import Database, recreate_schema, with_search_path
from orchestrator.models import CaseSearch, HumanTask, HumanTaskGroup, ProcessInstance
from orchestrator.query_filters import TaskFilter
from orchestrator.service import Engine
from orchestrator.settings import REPO_ROOT, Settings
from web.app import create_app
from web.auth.demo import DEMO_PASSWORD, seed_demo_users

ADMIN = Actor("bench", roles=frozenset({"admin"}))
WAREHOUSE = Actor("warehouse@demo.loopline", groups=frozenset({"warehouse"}), roles=frozenset({"staff"}))
SKUS = [f"SKU-{n:04d}" for n in range(500)]


def build_engine(home: Path) -> Engine:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{home / 'bench.db'}"
    if url.startswith("postgresql"):
        recreate_schema(url, BENCH_SCHEMA)
        url = with_search_path(url, BENCH_SCHEMA)
    database = Database(url)
    database.create_schema()
    settings = Settings.from_env({}, database_url=url, home=home, environment="test")
    engine = Engine(settings, db=database)
    engine.deployments.deploy_directory(REPO_ROOT / "bpmn", actor=ADMIN)
    return engine


def open_tasks(engine: Engine, count: int) -> str:
    """Copy one real return waiting at 'Record parcel receipt' `count` times, each its own case and task."""
    definition = next(d for d in engine.queries.list_definitions("returns"))
    model = engine.queries.process_model(definition.id)
    template = engine.instances.start_instance("returns", actor=ADMIN, business_key="RMA-TEMPLATE", variables={
        "rmaNumber": "RMA-TEMPLATE", "returnReason": "no_reason", "returnValue": 80.0, "requestedOutcome": "refund",
        "customerSegment": "consumer", "returnChannel": "carrier_parcel", "sku": "KETTLE-2", "quantity": 1})
    # a real task's form, so the copied task rows are as wide as real ones
    form = engine.queries.process_model(definition.id).form_fields
    receipt_form = [form[name] for name in ("parcelCondition", "receivedQuantity", "serialNumberMatches",
                                             "receiptNote")]
    now = engine.now()
    instances, tasks, groups, searches = [], [], [], []
    for n in range(count):
        instance_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
        variables = {"rmaNumber": f"RMA-{n:06d}", "sku": SKUS[n % len(SKUS)], "customerName": f"Customer {n}",
                     "returnValue": float(20 + n % 900), "returnReason": "no_reason"}
        instances.append(dict(id=instance_id, definition_id=definition.id, business_key=variables["rmaNumber"],
                              status="running", version=1, state=template.state, started_by="bench", started_at=now,
                              variables=variables))
        searches.append(dict(instance_id=instance_id, text=model.search_text(variables["rmaNumber"], variables)))
        tasks.append(dict(id=task_id, instance_id=instance_id, element_id="receive_parcel",
                          name="Record parcel receipt", candidate_groups=["warehouse"], candidate_users=[],
                          priority=50, due_at=now, form=receipt_form, state="ready", created_at=now))
        groups.append(dict(task_id=task_id, group_name="warehouse"))
    with engine.db.transaction() as session:
        for start in range(0, count, 1000):
            session.execute(insert(ProcessInstance), instances[start:start + 1000])
            session.execute(insert(HumanTask), tasks[start:start + 1000])
            session.execute(insert(HumanTaskGroup), groups[start:start + 1000])
            session.execute(insert(CaseSearch), searches[start:start + 1000])
    return SKUS[7]


def timed(call, repeat: int) -> float:
    call()  # warm caches (parsed models, query plans)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def signed_in_client(app):
    client = app.test_client()
    token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").data).group(1).decode()
    client.post("/login", data={"email": WAREHOUSE.name, "password": DEMO_PASSWORD, "csrf_token": token})
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        engine = build_engine(Path(home))
        sku = open_tasks(engine, args.tasks)
        app = create_app(engine.settings, engine)
        with app.app_context():
            seed_demo_users(app.extensions["security"].datastore)
        client = signed_in_client(app)
        queries = {
            "unfiltered": TaskFilter(sort="due"),
            "text_on_summary_fields": TaskFilter(text=sku, sort="due"),
            "variable_equals": TaskFilter(variable="sku", equals=sku, sort="due"),
        }
        backend = engine.db.engine.dialect.name
        totals = {name: engine.queries.list_tasks(WAREHOUSE, query).total for name, query in queries.items()}
        query_ms = {name: timed(lambda q=query: engine.queries.list_tasks(WAREHOUSE, q), args.repeat)
                    for name, query in queries.items()}
        pages = {"unfiltered": "/inbox", "text_on_summary_fields": f"/inbox?q={sku}"}
        page_ms = {name: timed(lambda p=path: client.get(p), args.repeat) for name, path in pages.items()}
        for name, ms in query_ms.items():
            print(json.dumps({"bench": "inbox_query", "backend": backend, "open_tasks": args.tasks, "filter": name,
                              "matches": totals[name], "ms": round(ms, 2),
                              "ratio_to_unfiltered": round(ms / query_ms["unfiltered"], 2)}))
        for name, ms in page_ms.items():
            print(json.dumps({"bench": "inbox_page", "backend": backend, "open_tasks": args.tasks, "filter": name,
                              "ms": round(ms, 2), "ratio_to_unfiltered": round(ms / page_ms["unfiltered"], 2)}))
        engine.db.engine.dispose()


if __name__ == "__main__":
    main()
