"""Database engine and transactions: one command runs in exactly one transaction."""

from __future__ import annotations

import logging
import os
import select
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, event, exc, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from integrations.db import SCHEMA, UTCDateTime  # noqa: F401  (one metadata and one column type for every table)

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    """Declarative base of the engine's (and the web layer's) tables, in the one shared metadata."""

    metadata = SCHEMA


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and write-locking transactions."""
    if url.startswith("sqlite"):
        create_private_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _serialize_sqlite_writers(engine)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    # an executemany INSERT (history rows, inbox groups) is sent as one multi-row INSERT, not as a pipeline of
    # one statement per row: one round trip, and the statement is still compiled once per process
    engine.dialect.use_insertmanyvalues_wo_returning = True
    _ping_idle_connections(engine)
    return engine


# A connection that came back to the pool less than this long ago is handed out without a ping.
PING_AFTER_IDLE_SECONDS = 5.0


def _ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before use only when it sat idle for a while (what `pool_pre_ping` does on
    every checkout, a round trip per command): a connection the server dropped (restart, idle timeout) is
    replaced before a command sees it; one just used for the previous command is handed out as it is."""

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection, record):
        if record is not None:
            record.info["loopline_idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        idle_since = record.info.get("loopline_idle_since")
        if idle_since is None:
            return  # new
        if time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS and not _server_spoke(dbapi_connection):
            return  # used a moment ago, and the server has not said goodbye since
        try:
            engine.dialect.do_ping(dbapi_connection)
            dbapi_connection.rollback()  # the ping's SELECT opened a transaction on the driver's connection
        except engine.dialect.loaded_dbapi.Error as error:
            # the pool discards this connection and checks out (or opens) another
            raise exc.DisconnectionError(f"pooled connection is gone: {error}") from error


def _server_spoke(dbapi_connection) -> bool:
    """Whether an idle connection has something to read: a server that terminates a backend (restart,
    failover, pg_terminate_backend) sends its farewell and closes the socket. A poll of the socket costs no
    round trip, so a connection cut a moment ago is replaced before a command meets it."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError, AttributeError):
        return True  # no socket to poll (closed already): let the ping decide
    return bool(readable)


def create_private_sqlite_file(url: str) -> None:
    """Create the SQLite file owner-only (0600, in a new 0700 folder) before SQLite would create it 0644;
    SQLite gives its -wal and -shm files the same mode. An existing file loses any access for others."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & stat.S_IRWXO:
            log.warning("%s was readable by other users: now %o", path, mode & ~stat.S_IRWXO)
            path.chmod(mode & ~stat.S_IRWXO)


def _serialize_sqlite_writers(engine: Engine) -> None:
    """Take SQLite's write lock at BEGIN so two commands never interleave reads and writes."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # readers take no write lock: in WAL mode they see a snapshot and never block a command
        readonly = connection.get_execution_options().get("loopline_readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def with_search_path(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use `schema`, so tests and benchmarks never touch `public`."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def recreate_schema(url: str, schema: str) -> None:
    """Drop and create one PostgreSQL schema (for tests and benchmarks only)."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    finally:
        engine.dispose()


# Work the current request asks of the first statement of each write transaction it opens (the row of an
# idempotency key, see orchestrator.idempotency); None on the ordinary path, which pays nothing for it.
transaction_opening: ContextVar[Callable[[Session], None] | None] = ContextVar("transaction_opening", default=None)


class _CommitWatch:
    """Whether a command has sent a COMMIT (or an autocommitting statement) yet."""

    sent = False


_commit_watch: ContextVar[_CommitWatch | None] = ContextVar("commit_watch", default=None)


def note_commit() -> None:
    """Tell the running command a COMMIT is being sent: from here on, a lost connection is not retried."""
    watch = _commit_watch.get()
    if watch is not None:
        watch.sent = True


def lost_connection(error: BaseException) -> bool:
    """Whether `error` is the database connection breaking (the server closed it, the network dropped)."""
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


Result = TypeVar("Result")


def retry_lost_before_commit(command: Callable[[], Result], before_retry: Callable[[], None] = lambda: None) -> Result:
    """Run `command`; if its connection broke before it sent any COMMIT, run it once more (the pool has
    replaced the dead connection). A server that loses a connection rolls its open transaction back, so the
    first run changed nothing. Never after a COMMIT was sent: its outcome is unknown, the caller answers 503."""
    watch = _CommitWatch()
    token = _commit_watch.set(watch)
    try:
        try:
            return command()
        except (exc.OperationalError, exc.InterfaceError) as error:
            if watch.sent or not lost_connection(error):
                raise
            log.warning("database connection lost before commit; running the command again: %s", error)
        before_retry()
        watch.sent = False
        return command()
    finally:
        _commit_watch.reset(token)


class Database:
    """The engine plus a session factory; `transaction()` is the only way commands write."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # the same pool, for sessions that only read. SQLite: a plain (deferred) BEGIN, so readers never take the
        # write lock. PostgreSQL: no transaction at all. At READ COMMITTED every statement reads its own snapshot
        # inside a transaction too, so a read-only session loses nothing and saves the BEGIN and COMMIT round trips
        readonly = {"loopline_readonly": True}
        if self.engine.dialect.name == "postgresql":
            readonly["isolation_level"] = "AUTOCOMMIT"
        self.deferred_engine = self.engine.execution_options(**readonly)
        # the same pool, for one writing statement that is atomic on its own (see `statement`)
        self.autocommit_engine = (self.engine.execution_options(isolation_level="AUTOCOMMIT")
                                  if self.engine.dialect.name == "postgresql" else self.engine)
        self.read_sessions = sessionmaker(self.deferred_engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Yield a session inside one transaction: commit on success, roll back on any error."""
        with self.sessions() as session, session.begin():
            opening = transaction_opening.get()
            if opening is not None:
                opening(session)
            yield session
            session.flush()  # the writes still pending: a connection lost up to here leaves nothing committed
            note_commit()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """Yield a session for queries only (it must not write or lock rows): on SQLite it does not take the
        write lock, on PostgreSQL each query runs on its own, outside a transaction."""
        with self.read_sessions() as session, session.begin():
            yield session

    @contextmanager
    def statement(self) -> Iterator[Connection]:
        """Yield a connection for one statement that is a whole command by itself (an UPDATE … RETURNING that
        claims a row): on PostgreSQL it commits on its own, with no BEGIN and COMMIT round trips; on SQLite it
        runs in a write transaction like any command. Never for two statements that must commit together."""
        note_commit()
        if self.autocommit_engine is self.engine:
            with self.engine.begin() as connection:
                yield connection
        else:
            with self.autocommit_engine.connect() as connection:
                yield connection

    def create_schema(self) -> None:
        """Bring the schema to the newest migration (the same path production takes)."""
        from orchestrator.migrate import upgrade

        upgrade(self.url)

    def dispose(self) -> None:
        self.engine.dispose()
