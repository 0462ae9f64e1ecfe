"""Time of the management dashboards with a million completed cases and ten million history events on
PostgreSQL (reports only, asserts nothing).

Run:   DATABASE_URL=postgresql+psycopg://… python -m bench.dashboards [--cases N] [--events-per-case M]
       [--rounds R]   (the schema `loopline_bench` is made anew; defaults: 1,000,000 cases, 10 events each)

The bundled processes are deployed through the engine; the cases, their metric rows, history events, inbox
rows, element histograms and sales volumes are then filled in bulk with SQL (generate_series), spread over
three years: 90 % returns, 9.98 % CAPA, 200 recalls, plus 3,000 open CAPA tasks. Each figure is timed in
interleaved rounds and printed as one JSON line (median, min and max seconds): the engine's query for each
dashboard with its default period (the last 12 months), over all three years, filtered by a SKU, the
drill-down's first page, the time per step, the tasks at risk, and the dashboards' HTTP API (JSON) and pages
(HTML) through the Flask app, as a signed-in manager sees them.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.backends import QA, fresh_database_url, postgres_backend
from bench.rounds import emit, interleave
from orchestrator.actors import Actor
from orchestrator.dashboard_queries import DashboardFilter
from orchestrator.db import Database
from orchestrator.service import Engine
from orchestrator.settings import Settings

MANAGER = Actor("bench-manager", roles=frozenset({"manager"}))
BPMN = Path(__file__).resolve().parent.parent / "bpmn"
RECALLS = 200
OPEN_CAPA_TASKS = 3000

FILL = """
INSERT INTO process_instance (id, definition_id, business_key, status, version, state, started_by, started_at,
                              ended_at, variables)
SELECT 'b-' || lpad(i::text, 34, '0'),
       CASE WHEN i <= {recalls} THEN {recall} WHEN i % 10 = 0 THEN {capa} ELSE {returns} END,
       CASE WHEN i <= {recalls} THEN 'RC-B-' WHEN i % 10 = 0 THEN 'CAPA-B-' ELSE 'RMA-B-' END || i,
       'completed', 1, '', 'bench', now() - make_interval(days => i % 1095, mins => i % 1440),
       now() - make_interval(days => i % 1095, mins => i % 1440) + make_interval(days => 1 + i % 20),
       '{{}}'
FROM generate_series(1, {cases}) AS i;

INSERT INTO case_metric (instance_id, process_key, business_key, status, started_at, ended_at, stage, sku, lot,
    reason, region, channel, outcome, grade, disposition, fault_code, supplier, severity, quantity, value,
    recovered_value, refund_amount, cost_logistics, cost_parts, cost_labour, received_at, resolved_at)
SELECT p.id, d.key, p.business_key, p.status, p.started_at, p.ended_at, 'closed',
       'SKU-' || (i * 7 % 300), 'L-' || (i % 5000),
       (ARRAY['quality_defect','no_reason','wrong_item','damaged_in_transit','take_back'])[1 + i % 5],
       (ARRAY['north','east','south','west','international'])[1 + i % 5],
       (ARRAY['carrier_parcel','store_drop_off','courier_pickup'])[1 + i % 3],
       (ARRAY['refund','exchange','repair','recycle'])[1 + i % 4],
       (ARRAY['A','B','C'])[1 + i % 3],
       (ARRAY['restock','refurbish','return_to_supplier','scrap'])[1 + i % 4],
       'F-' || (i % 25), 'Supplier ' || (i % 40), (ARRAY['critical','major','minor'])[1 + i % 3],
       1 + i % 3, 20 + i % 500, (i % 300), 20 + i % 450, 4 + i % 9, i % 60, i % 45,
       p.started_at + make_interval(days => 2 + i % 5), p.started_at + make_interval(days => 4 + i % 12)
FROM generate_series(1, {cases}) AS i
JOIN process_instance p ON p.id = 'b-' || lpad(i::text, 34, '0')
JOIN process_definition d ON d.id = p.definition_id;

INSERT INTO history_event (instance_id, at, type, actor, element_id, task_id, payload, prev_hash, hash)
SELECT 'b-' || lpad(i::text, 34, '0'), now() - make_interval(days => i % 1095) + make_interval(mins => n),
       'element_completed', 'bench', 'step_' || n, NULL, '{{}}', repeat('0', 64), repeat('1', 64)
FROM generate_series(1, {cases}) AS i, generate_series(1, {events}) AS n;

INSERT INTO human_task (id, instance_id, element_id, name, candidate_groups, candidate_users, priority, form,
                        state, created_at, completed_at, completed_by, due_at)
SELECT 't-' || lpad(i::text, 34, '0'), 'b-' || lpad(i::text, 34, '0'), 'inspect_return', 'Inspect', '["qa"]',
       '[]', 50, '[]', 'completed', now() - make_interval(days => i % 1095),
       now() - make_interval(days => i % 1095) + make_interval(hours => 1 + i % 40), 'bench',
       now() - make_interval(days => i % 1095) + make_interval(hours => 24)
FROM generate_series(1, {cases}) AS i;

INSERT INTO process_instance (id, definition_id, business_key, status, version, state, started_by, started_at,
                              variables)
SELECT 'o-' || lpad(i::text, 34, '0'), {capa}, 'CAPA-OPEN-' || i, 'running', 1, '', 'bench',
       now() - make_interval(days => i % 60), '{{}}'
FROM generate_series(1, {open_tasks}) AS i;

INSERT INTO case_metric (instance_id, process_key, business_key, status, started_at, stage, sku, fault_code,
                         supplier, severity)
SELECT 'o-' || lpad(i::text, 34, '0'), 'capa', 'CAPA-OPEN-' || i, 'running', now() - make_interval(days => i % 60),
       'D' || (i % 9), 'SKU-' || (i % 300), 'F-' || (i % 25), 'Supplier ' || (i % 40),
       (ARRAY['critical','major','minor'])[1 + i % 3]
FROM generate_series(1, {open_tasks}) AS i;

INSERT INTO human_task (id, instance_id, element_id, name, candidate_groups, candidate_users, priority, form,
                        state, created_at, due_at)
SELECT 'u-' || lpad(i::text, 34, '0'), 'o-' || lpad(i::text, 34, '0'), 'analyse_root_cause', 'D4', '["qa"]',
       '[]', 50, '[]', 'ready', now() - make_interval(days => i % 60), now() + make_interval(days => 10 - i % 20)
FROM generate_series(1, {open_tasks}) AS i;

INSERT INTO element_stat (definition_id, element_id, bucket, shard, passes, overdue, seconds)
SELECT d.id, e.element, b, s, 50 + (b * 13 + s) % 400, (b * s) % 20, (50 + (b * 13 + s) % 400) * power(2, b / 4.0)
FROM process_definition d
CROSS JOIN (SELECT unnest(ARRAY['review_return','issue_return_label','receive_parcel','inspect_return',
     'approve_scrap','refund_manually','classify_capa','form_team','describe_problem','define_containment',
     'analyse_root_cause','choose_corrective_action','plan_implementation','standardise','close_capa'])
     AS element) e
CROSS JOIN generate_series(20, 70) AS b CROSS JOIN generate_series(0, 7) AS s;

INSERT INTO sales_volume (sku, month, region, units)
SELECT 'SKU-' || k, date_trunc('month', now() - make_interval(months => m))::date,
       (ARRAY['north','east','south','west','international'])[1 + r], 200 + (k * 17 + m * 5 + r) % 900
FROM generate_series(0, 299) AS k, generate_series(0, 36) AS m, generate_series(0, 4) AS r;
"""


def fill(engine: Engine, cases: int, events_per_case: int) -> dict[str, int]:
    engine.deployments.deploy_directory(BPMN, actor=QA)
    with engine.db.engine.connect() as connection:
        definitions = dict(connection.exec_driver_sql("SELECT key, id FROM process_definition").all())
        started = time.perf_counter()
        for statement in FILL.format(cases=cases, events=events_per_case, recalls=RECALLS,
                                     open_tasks=OPEN_CAPA_TASKS, **definitions).split(";\n"):
            if statement.strip():
                connection.exec_driver_sql(statement.replace("%", "%%"))
                connection.commit()
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
        counts = {table: connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
                  for table in ("process_instance", "case_metric", "history_event", "human_task")}
    emit("dashboards_fill", seconds=round(time.perf_counter() - started, 1), **counts)
    return definitions


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def signed_in_client(app, engine: Engine):
    """A test client of the app signed in as a manager (CSRF off for the bench's own sign-in)."""
    from web.auth.users import create_user, ensure_roles_and_groups
    from web.extensions import db

    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        datastore = app.extensions["security"].datastore
        ensure_roles_and_groups(datastore)
        create_user(datastore, "bench.manager@example.com", "bench-manager-password-1", roles=("manager",))
        db.session.commit()
    client = app.test_client()
    answer = client.post("/login", data={"email": "bench.manager@example.com",
                                         "password": "bench-manager-password-1"})
    assert answer.status_code in (200, 302), answer.status_code
    return client


def measure(cases: int, events_per_case: int, rounds: int) -> None:
    backend = postgres_backend()
    if backend is None:
        raise SystemExit("set DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis): the figure is for PostgreSQL")
    database_url = fresh_database_url(backend)
    db = Database(database_url)
    db.create_schema()
    settings = Settings.from_env({}, database_url=database_url, broker_url=backend.broker_url, environment="test",
                                 home=Path(tempfile.mkdtemp(prefix="loopline-bench-home-")))
    engine = Engine(settings, db=db)
    try:
        fill(engine, cases, events_per_case)
        today = engine.now().date()
        three_years = DashboardFilter(start=date(today.year - 3, today.month, 1))
        from web.app import create_app

        app = create_app(settings, engine)
        client = signed_in_client(app, engine)
        variants = {
            "returns (last 12 months)": lambda: engine.dashboards.returns(MANAGER, DashboardFilter()),
            "returns (3 years)": lambda: engine.dashboards.returns(MANAGER, three_years),
            "returns (one SKU, 3 years)": lambda: engine.dashboards.returns(
                MANAGER, DashboardFilter(start=three_years.start, sku="SKU-7")),
            "capa (last 12 months)": lambda: engine.dashboards.capa(MANAGER, DashboardFilter()),
            "recall (last 12 months)": lambda: engine.dashboards.recall(MANAGER, DashboardFilter()),
            "drill-down first page": lambda: engine.dashboards.cases(MANAGER, DashboardFilter(), "returns",
                                                                     "sku", "SKU-7", 1),
            "time per step (returns)": lambda: engine.heatmaps.process_times(MANAGER, "returns"),
            "tasks at risk": lambda: engine.heatmaps.at_risk(MANAGER),
            "HTTP page /dashboards/returns": lambda: _ok(client.get("/dashboards/returns")),
            "HTTP page /dashboards/capa": lambda: _ok(client.get("/dashboards/capa")),
            "HTTP page /dashboards/recall": lambda: _ok(client.get("/dashboards/recall")),
            "HTTP API returns (3 years)": lambda: _ok(client.get(
                f"/api/v1/dashboards/returns?from={three_years.start.isoformat()}")),
        }
        samples = interleave({name: (lambda action=action: timed(action)) for name, action in variants.items()},
                             rounds)
        for name, values in samples.items():
            emit("dashboard_seconds", variant=name, median=round(statistics.median(values), 3),
                 min=round(min(values), 3), max=round(max(values), 3), rounds=rounds,
                 within_1s=statistics.median(values) <= 1.0)
    finally:
        db.dispose()


def _ok(answer) -> None:
    if answer.status_code != 200:
        raise RuntimeError(f"{answer.request.path}: HTTP {answer.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--events-per-case", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    measure(args.cases, args.events_per_case, args.rounds)


if __name__ == "__main__":
    main()
