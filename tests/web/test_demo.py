"""The embedded default's demo cases run on the shipped models with the built-in connectors."""

from __future__ import annotations

from pathlib import Path

from orchestrator.actors import Actor
from orchestrator.migrate import upgrade
from orchestrator.query_filters import InstanceFilter, TaskFilter
from orchestrator.settings import Settings
from tasks.runtime import build_runtime, deploy_bundled_models
from web.demo_instances import seed_demo_instances

REPO = Path(__file__).resolve().parents[2]
READER = Actor("auditor", roles=frozenset({"auditor"}))


def test_demo_cases_are_created_once_on_the_bundled_models(make_engine, sqlite_database):
    engine = make_engine(sqlite_database, connector_modules=())
    engine.deployments.deploy_directory(REPO / "bpmn", actor=Actor.system("startup"))
    made = seed_demo_instances(engine)
    assert made == [*(f"RMA-DEMO-{n}" for n in range(1, 8)), "CAPA-DEMO-1", "CAPA-DEMO-2", "CAPA-DEMO-3",
                    "RC-DEMO-L-7", "RC-DEMO-T-3"]
    page = engine.queries.list_instances(READER, InstanceFilter(limit=50))
    status = {i.business_key: i.status for i, _ in page.items}
    assert page.total == 12 and status.pop("RMA-DEMO-3") == "completed"  # a closed return to look at
    assert set(status.values()) == {"running"}
    waiting_for = {i.business_key: [t.element_id for t in engine.queries.open_human_tasks_for(READER, i.id)] for i, _ in page.items}
    assert waiting_for["RMA-DEMO-1"] and waiting_for["CAPA-DEMO-1"] and waiting_for["RC-DEMO-L-7"]
    parcel = next(i for i, _ in page.items if i.business_key == "RMA-DEMO-2")
    assert waiting_for["RMA-DEMO-2"] == [] and parcel.next_timer_at is not None  # waits for the parcel
    assert engine.queries.open_incidents(READER) == []
    assert seed_demo_instances(engine) == []  # never twice


def test_demo_cases_are_made_while_the_in_process_worker_runs(tmp_path):
    """As `loopline serve` seeds them: the embedded worker takes jobs the seeding waits for."""
    settings = Settings.from_env({}, home=tmp_path, environment="test",
                                 database_url=f"sqlite:///{tmp_path / 'serve.db'}")
    upgrade(settings.database_url)
    runtime = build_runtime(settings)
    try:
        deploy_bundled_models(runtime.engine)
        assert len(seed_demo_instances(runtime.engine)) == 12
        assert runtime.engine.queries.open_incidents(READER) == []
    finally:
        runtime.stop()


def test_every_demo_person_has_real_work(make_engine, sqlite_database):
    """Each staff demo person (and the manager) has an open task of their group to act on; admins act on all; the
    process owner and the auditor read every case and act on no group's task."""
    from web.auth.demo import DEMO_PEOPLE

    engine = make_engine(sqlite_database, connector_modules=())
    engine.deployments.deploy_directory(REPO / "bpmn", actor=Actor.system("startup"))
    seed_demo_instances(engine)
    cases = engine.queries.list_instances(READER, InstanceFilter(limit=50)).total
    processes_by_group = {}
    for email, roles, groups in DEMO_PEOPLE:
        person = Actor(email, roles=frozenset(roles), groups=frozenset(groups))
        work = engine.queries.list_tasks(person, TaskFilter(actionable=True, limit=100))
        if "staff" in roles or "manager" in roles:  # management decides on recalls besides reading the figures
            assert work.total >= 1, email
            assert all(set(task.candidate_groups) & set(groups) for task, _, _ in work.items), email
            processes_by_group[groups[0]] = {definition.key for _, _, definition in work.items}
        elif "admin" in roles:
            assert work.total == engine.queries.list_tasks(person, TaskFilter(limit=100)).total > 10
        else:  # process owner, auditor: they read the cases
            assert work.total == 0 and engine.queries.list_instances(person, InstanceFilter()).total == cases
    assert processes_by_group["management"] == {"recall"}
    assert processes_by_group["asset_management"] == processes_by_group["finance"] == {"returns"}
    assert {"capa", "recall"} <= processes_by_group["qa"]
