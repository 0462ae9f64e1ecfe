"""Fixtures of the reliability tests: one database the test and its worker processes share."""

from __future__ import annotations

import os

import pytest

from orchestrator.db import Database
from tests.conftest import reset_postgres


@pytest.fixture
def shared_database(tmp_path):
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        db = reset_postgres(url)
    else:
        db = Database(f"sqlite:///{tmp_path / 'shared.db'}")
        db.create_schema()
    yield db
    db.dispose()
