"""Every scenario of the bundled processes (tests/processes: returns, recall, CAPA, the links between them, the
recall signal and the engine gaps the models rely on) re-executes to the same path, steps waited in and
variables as recorded, for every case it left behind (running ones too, and those started by message).

Each scenario test of those modules is run here as it is, then every case in its engine is re-executed."""

from __future__ import annotations

import inspect

import pytest
from sqlalchemy import select

from orchestrator.actors import Actor
from orchestrator.models import ProcessInstance
from tests.processes import test_capa, test_engine_gaps, test_links, test_recall, test_returns, test_signal

AUDITOR = Actor("auditor", roles=frozenset({"auditor"}))
SCENARIOS = [test for module in (test_returns, test_recall, test_capa, test_links, test_signal, test_engine_gaps)
             for name, test in sorted(vars(module).items()) if name.startswith("test_") and callable(test)]
ON_EVERY_BACKEND = [test for test in SCENARIOS if "models_engine" in inspect.signature(test).parameters]
ON_SQLITE = [test for test in SCENARIOS if test not in ON_EVERY_BACKEND]


def _name(test) -> str:
    return f"{test.__module__.rsplit('.', 1)[-1].removeprefix('test_')}:{test.__name__.removeprefix('test_')}"


def run_scenario(test, engine, request) -> None:
    """Call the scenario with its fixtures, the given engine standing for `models_engine`/`fast_engine`."""
    arguments = {name: engine if name in ("models_engine", "fast_engine") else request.getfixturevalue(name)
                 for name in inspect.signature(test).parameters}
    test(**arguments)


def assert_every_case_reexecutes(engine) -> int:
    with engine.db.reading() as session:
        ids = list(session.scalars(select(ProcessInstance.id).order_by(ProcessInstance.started_at)))
    assert ids
    for instance_id in ids:
        report = engine.reexecution.reexecute(instance_id, actor=AUDITOR)
        assert report.states_recorded and report.steps
        differing = [(step.number, step.input, step.element_id, step.error, step.recorded_path,
                      step.re_executed_path, step.recorded_waiting, step.re_executed_waiting,
                      step.variable_differences) for step in report.differing_steps]
        assert report.ok, (report.definition_key, report.error, differing)
    return len(ids)


@pytest.mark.parametrize("scenario", ON_EVERY_BACKEND, ids=_name)
def test_main_scenarios_reexecute_as_recorded(scenario, models_engine, request):
    run_scenario(scenario, models_engine, request)
    assert_every_case_reexecutes(models_engine)


@pytest.mark.parametrize("scenario", ON_SQLITE, ids=_name)
def test_every_other_scenario_reexecutes_as_recorded(scenario, fast_engine, request):
    run_scenario(scenario, fast_engine, request)
    assert_every_case_reexecutes(fast_engine)
