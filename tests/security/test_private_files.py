"""Issue 10, item 8: the SQLite file was world-readable (0644). The database (with its -wal and -shm files),
the instance folder and the secret key are now created for their owner only."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from orchestrator.db import Database
from orchestrator.migrate import upgrade
from orchestrator.settings import Settings
from web.app import create_app, instance_secret_key
from web.extensions import db


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_files_are_owner_only(tmp_path):
    folder = tmp_path / "new-home"
    database = Database(f"sqlite:///{folder / 'loopline.db'}")
    try:
        database.create_schema()
        with database.transaction() as session:
            session.execute(text("CREATE TABLE scratch (x INTEGER)"))  # a write, so the WAL files exist
        files = sorted(folder.glob("loopline.db*"))
        assert {f.name for f in files} >= {"loopline.db", "loopline.db-wal", "loopline.db-shm"}
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(folder) == 0o700
    finally:
        database.dispose()


def test_the_migration_command_creates_the_file_owner_only(tmp_path):
    path = tmp_path / "migrated.db"
    upgrade(f"sqlite:///{path}")
    assert mode(path) == 0o600


def test_an_existing_world_readable_database_loses_access_for_others(tmp_path):
    path = tmp_path / "old.db"
    path.touch()
    path.chmod(0o644)
    Database(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o640


def test_the_secret_key_and_the_instance_folder_are_owner_only(tmp_path):
    home = tmp_path / "instance"
    key = instance_secret_key(home)
    assert len(key) == 64 and instance_secret_key(home) == key  # made once, then kept
    assert mode(home / "secret_key") == 0o600 and mode(home) == 0o700


def test_the_embedded_default_creates_everything_private(tmp_path):
    home = tmp_path / "laptop"
    app = create_app(Settings.from_env({"LOOPLINE_HOME": str(home)}))
    try:
        assert mode(home / "loopline.db") == 0o600
        assert mode(home / "secret_key") == 0o600
        assert mode(home) == 0o700
    finally:
        with app.app_context():
            db.engine.dispose()
        app.extensions["loopline.engine"].db.dispose()
