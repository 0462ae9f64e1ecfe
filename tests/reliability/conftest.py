"""Fixtures of the reliability tests: one database the test and its worker processes share."""

from __future__ import annotations

import os

import pytest

from tests.conftest import reset_postgres, sqlite_copy


@pytest.fixture
def shared_database(tmp_path, migrated_sqlite):
    url = os.environ.get("DATABASE_URL", "")
    db = reset_postgres(url) if url.startswith("postgresql") else sqlite_copy(migrated_sqlite, tmp_path / "shared.db")
    yield db
    db.dispose()
