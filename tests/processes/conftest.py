"""Engines with the real models of bpmn/ deployed and the process test connectors registered."""

from __future__ import annotations

import pytest

from orchestrator.service import Engine
from tests.processes.driver import CONNECTORS, deploy_models


@pytest.fixture
def models_engine(make_engine, database) -> Engine:
    """The models on the parametrized backend (SQLite and PostgreSQL)."""
    engine = make_engine(database, connector_modules=CONNECTORS)
    deploy_models(engine)
    return engine


@pytest.fixture
def fast_engine(make_engine, sqlite_database) -> Engine:
    """The models on SQLite only, for the many branch-by-branch paths."""
    engine = make_engine(sqlite_database, connector_modules=CONNECTORS)
    deploy_models(engine)
    return engine
