"""Spreadsheet imports: a CSV or XLSX file of returns, trace events or sales volumes, checked row by row, shown as
a preview, and imported in the background only when someone starts it.

The preview stores the file's valid rows (`spreadsheet_import_row`) and its errors (row, column, reason); nothing
else is written. Starting queues the import; the background sweep (`loopline beat`, or the embedded mode's loop)
works on it in leased rounds of ROUND_SIZE rows, each round one transaction that writes its rows and moves the
import's `position` past them together: a process killed mid-round leaves nothing of that round, and the next
round resumes at the first row not imported. A returns case is also started with an idempotency key made of the
import and the row, so no row ever starts two cases.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.authorization import can, require
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import Conflict, EngineError, Forbidden, InvalidInput, NotFound
from orchestrator.import_checks import MAX_LISTED, check_rows
from orchestrator.import_kinds import (
    PERMISSIONS,
    RowChecker,
    returns_checker,
    sales_volume_checker,
    write_sales_volumes,
    write_trace_events,
)
from orchestrator.import_models import ImportKind, ImportStatus, SpreadsheetImport, SpreadsheetImportRow
from orchestrator.models import ProcessInstance
from orchestrator.spreadsheet_files import UnreadableSpreadsheet, read_spreadsheet
from orchestrator.start_forms import StartForms

log = logging.getLogger(__name__)

ROUND_SIZE = 200
ROUND_SECONDS = 1.0  # a round of returns stops starting cases after this long (its transaction holds writers)
LEASE = timedelta(seconds=60)
SAMPLE_ROWS = 10
RETURNS_PROCESS = "returns"
ACTIVE = (ImportStatus.QUEUED, ImportStatus.RUNNING)


class UnusableFile(EngineError):
    """The upload is not a spreadsheet we read, or none of its columns is known: nothing was stored."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message, errors={"file": message})
        self.errors = {"file": message}


@dataclass(frozen=True)
class ImportView:
    id: int
    kind: str
    filename: str
    status: str
    total_rows: int
    valid_rows: int
    error_count: int
    errors: list[tuple[int, str, str]]  # (row, column, reason), the first MAX_LISTED
    used_columns: dict[str, str]  # column id → the header it was read from
    ignored_columns: list[str]
    column_labels: dict[str, str]  # every column the kind knows, id → English label, in the kind's order
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    done: int
    failed: int
    failures: list[tuple[int, str]]  # (row, reason), the first MAX_LISTED

    @classmethod
    def of(cls, row: SpreadsheetImport) -> ImportView:
        columns = row.columns or {}
        return cls(row.id, row.kind, row.filename, row.status, row.total_rows, row.valid_rows, row.error_count,
                   [tuple(error) for error in row.errors or []], dict(columns.get("used") or {}),
                   list(columns.get("ignored") or []), dict(columns.get("labels") or {}), row.requested_by, row.created_at, row.started_at,
                   row.finished_at, row.done, row.failed, [tuple(failure) for failure in row.failures or []])

    @property
    def handled(self) -> int:
        return self.done + self.failed

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.DISCARDED)

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        return int(100 * self.handled / self.valid_rows) if self.valid_rows else 0

    @property
    def rows_with_errors(self) -> int:
        return self.total_rows - self.valid_rows


@dataclass(frozen=True)
class ImportRound:
    import_id: int | None
    handled: int
    more: bool  # work is left (in this import or another)


def require_kind(actor: Actor, kind: str) -> None:
    """Raise Forbidden unless the actor may import this kind (403 before anything is read)."""
    if kind not in PERMISSIONS:
        raise InvalidInput("unknown import kind", {"kind": f"must be one of {', '.join(ImportKind)}"})
    for permission in PERMISSIONS[kind]:
        require(actor, permission)


def may_import(actor: Actor, kind: str) -> bool:
    return all(can(actor, permission) for permission in PERMISSIONS.get(kind, ()))


def require_some_kind(actor: Actor) -> None:
    """Raise Forbidden unless the actor may import some kind (an auditor hears 403 before "no such import")."""
    if not any(may_import(actor, kind) for kind in ImportKind):
        raise Forbidden(f"{actor.name} may not import spreadsheets")


class SpreadsheetImports(CommandGroup):
    def __init__(self, core: EngineCore, start_forms: StartForms):
        super().__init__(core)
        self.start_forms = start_forms

    # -- preview -------------------------------------------------------------------------------------------
    def checker(self, kind: str) -> RowChecker:
        """The row check of returns and sales volumes (trace events bring the API's, from the web layer)."""
        if kind == ImportKind.RETURNS:
            definition, form = self.start_forms.start_form(RETURNS_PROCESS)
            with self.core.db.reading() as session:
                parsed = self.core.definitions.get(session, definition.id)
            return returns_checker(form, parsed.business_key_field, self.core.now())
        if kind == ImportKind.SALES_VOLUMES:
            return sales_volume_checker()
        raise InvalidInput("this import needs its checker", {"kind": f"{kind} rows are checked by the web layer"})

    def preview(self, kind: str, content: bytes, filename: str, *, actor: Actor,
                checker: RowChecker | None = None) -> ImportView:
        """Read and check every row; store the valid ones and the errors for the preview. Nothing is imported."""
        require_kind(actor, kind)
        try:
            sheet = read_spreadsheet(content, filename)
        except UnreadableSpreadsheet as exc:
            raise UnusableFile(str(exc)) from exc
        checked = check_rows(sheet, checker or self.checker(kind))
        if not checked.used:
            raise UnusableFile(checked.no_known_column)
        valid = checked.valid
        with self.core.db.transaction() as session:
            row = SpreadsheetImport(
                kind=kind, filename=(filename or "upload")[:255], status=ImportStatus.PREVIEWED,
                total_rows=len(sheet.rows), valid_rows=len(valid), error_count=checked.error_count,
                errors=checked.errors, columns=checked.columns,
                requested_by=actor.name, roles=sorted(actor.roles), created_at=self.core.now(), position=0, done=0,
                failed=0, failures=[])
            session.add(row)
            session.flush()
            for start in range(0, len(valid), 1000):
                session.execute(insert(SpreadsheetImportRow),
                                [{"import_id": row.id, **item} for item in valid[start:start + 1000]])
            return ImportView.of(row)

    def sample_rows(self, import_id: int, *, actor: Actor, limit: int = SAMPLE_ROWS) -> list[tuple[int, dict]]:
        """The first valid rows as they will be imported."""
        self.get_import(import_id, actor=actor)
        with self.core.db.reading() as session:
            rows = session.execute(select(SpreadsheetImportRow.row_number, SpreadsheetImportRow.values)
                                   .where(SpreadsheetImportRow.import_id == import_id)
                                   .order_by(SpreadsheetImportRow.row_number).limit(limit))
            return [(number, values) for number, values in rows]

    # -- asking ---------------------------------------------------------------------------------------------
    def get_import(self, import_id: int, *, actor: Actor) -> ImportView:
        require_some_kind(actor)
        with self.core.db.reading() as session:
            row = session.get(SpreadsheetImport, import_id)
            if row is None:
                raise NotFound(f"import {import_id} does not exist")
            require_kind(actor, row.kind)
            return ImportView.of(row)

    def list_imports(self, *, actor: Actor, limit: int = 20) -> list[ImportView]:
        """The newest imports of the kinds the actor may import."""
        kinds = [kind for kind in ImportKind if may_import(actor, kind)]
        with self.core.db.reading() as session:
            rows = session.scalars(select(SpreadsheetImport).where(SpreadsheetImport.kind.in_(kinds))
                                   .order_by(SpreadsheetImport.id.desc()).limit(min(limit, 200)))
            return [ImportView.of(row) for row in rows]

    def start_import(self, import_id: int, *, actor: Actor, valid_rows_only: bool = False) -> ImportView:
        """Queue the import of the previewed rows. A file with errors imports only when `valid_rows_only` says
        so; starting an import already started changes nothing."""
        require_some_kind(actor)
        with self.core.db.transaction() as session:
            row = session.get(SpreadsheetImport, import_id, with_for_update=True)
            if row is None:
                raise NotFound(f"import {import_id} does not exist")
            require_kind(actor, row.kind)
            if row.status == ImportStatus.DISCARDED:
                raise Conflict(f"import {import_id} was discarded", status=row.status)
            if row.status != ImportStatus.PREVIEWED:
                return ImportView.of(row)
            if row.error_count and not valid_rows_only:
                raise InvalidInput(f"the file has {row.error_count} errors: fix them, or import the valid rows only",
                                   {"valid_rows_only": "must be true to import a file with errors"})
            if not row.valid_rows:
                raise InvalidInput("the file has no valid row to import", {"file": "no valid row"})
            row.status = ImportStatus.QUEUED
            row.started_at = self.core.now()
            row.requested_by = actor.name
            row.roles = sorted(actor.roles)
            session.flush()
            return ImportView.of(row)

    def discard_import(self, import_id: int, *, actor: Actor) -> ImportView:
        """Drop a previewed import and its rows; nothing of it is ever imported."""
        require_some_kind(actor)
        with self.core.db.transaction() as session:
            row = session.get(SpreadsheetImport, import_id, with_for_update=True)
            if row is None:
                raise NotFound(f"import {import_id} does not exist")
            require_kind(actor, row.kind)
            if row.status not in (ImportStatus.PREVIEWED, ImportStatus.DISCARDED):
                raise Conflict(f"import {import_id} is {row.status}", status=row.status)
            row.status = ImportStatus.DISCARDED
            session.query(SpreadsheetImportRow).filter(SpreadsheetImportRow.import_id == import_id).delete()
            session.flush()
            return ImportView.of(row)

    # -- running ---------------------------------------------------------------------------------------------
    def run_round(self, limit: int = ROUND_SIZE, seconds: float | None = ROUND_SECONDS) -> ImportRound:
        """Lease the oldest queued import and import its next `limit` rows in one transaction (returns: those
        started within `seconds`)."""
        import_id = self._lease()
        if import_id is None:
            return ImportRound(None, 0, False)
        with self.core.db.reading() as session:
            row = session.get(SpreadsheetImport, import_id)
            kind, position = row.kind, row.position
            actor = Actor(row.requested_by, roles=frozenset(row.roles or ()))
            rows = [(number, values) for number, values in session.execute(
                select(SpreadsheetImportRow.row_number, SpreadsheetImportRow.values)
                .where(SpreadsheetImportRow.import_id == import_id, SpreadsheetImportRow.row_number > position)
                .order_by(SpreadsheetImportRow.row_number).limit(limit))]
        if rows:
            try:
                with self.core.db.transaction() as session:
                    rows, failures = self._write(session, import_id, kind, rows, actor, seconds)
                    self._count(session, import_id, position, rows, failures)
            except Conflict:
                pass  # another sweep counted these rows meanwhile: the next round goes on from there
            except Exception:  # noqa: BLE001 - one bad row must not stop the import: this round, row by row
                log.exception("import %s: a round failed; importing its rows one by one", import_id)
                for single in rows:
                    self._write_alone(import_id, kind, single, actor)
        more_rows = bool(rows) and self._rows_left(import_id, rows[-1][0])
        if more_rows:
            with self.core.db.transaction() as session:  # the lease ends with the round: the next one takes it
                session.execute(update(SpreadsheetImport).where(SpreadsheetImport.id == import_id)
                                .values(locked_until=None))
        else:
            self._finish(import_id)
        return ImportRound(import_id, len(rows), more_rows or self.has_work())

    def _rows_left(self, import_id: int, after: int) -> bool:
        with self.core.db.reading() as session:
            return session.scalar(select(SpreadsheetImportRow.row_number).where(
                SpreadsheetImportRow.import_id == import_id, SpreadsheetImportRow.row_number > after).limit(1)) \
                is not None

    def has_work(self) -> bool:
        with self.core.db.reading() as session:
            return session.scalar(select(SpreadsheetImport.id).where(SpreadsheetImport.status.in_(ACTIVE))
                                  .limit(1)) is not None

    def _lease(self) -> int | None:
        now = self.core.now()
        free = or_(SpreadsheetImport.locked_until.is_(None), SpreadsheetImport.locked_until < now)
        with self.core.db.reading() as session:  # every sweep asks: without an import, no write transaction
            import_id = session.scalar(select(SpreadsheetImport.id).where(SpreadsheetImport.status.in_(ACTIVE), free)
                                       .order_by(SpreadsheetImport.id).limit(1))
        if import_id is None:
            return None
        with self.core.db.transaction() as session:
            claimed = session.execute(update(SpreadsheetImport).where(SpreadsheetImport.id == import_id, free)
                                      .values(locked_until=now + LEASE, status=ImportStatus.RUNNING)).rowcount
        return import_id if claimed else None

    def _write(self, session: Session, import_id: int, kind: str, rows: list[tuple[int, dict]],
               actor: Actor, seconds: float | None = None) -> tuple[list[tuple[int, dict]], list[list[Any]]]:
        """Write the rows in the caller's transaction: the rows handled (the first ones, when a round's time ran
        out) and those of them that could not be written, with the reason."""
        if kind == ImportKind.SALES_VOLUMES:
            write_sales_volumes(session, [values for _, values in rows])
            return rows, []
        if kind == ImportKind.TRACE_EVENTS:
            write_trace_events(session, [values for _, values in rows])
            return rows, []
        return self._start_cases(session, import_id, rows, actor, seconds)

    def _start_cases(self, session: Session, import_id: int, rows: list[tuple[int, dict]], actor: Actor,
                     seconds: float | None) -> tuple[list[tuple[int, dict]], list[list[Any]]]:
        """One returns case per row, as its start form starts it, each with the idempotency key of its row; the
        round stops after `seconds`, so that its write transaction never holds other writers long."""
        for permission in PERMISSIONS[ImportKind.RETURNS]:
            require(actor, permission)
        keys = {number: case_idempotency_key(import_id, number) for number, _ in rows}
        started = set(session.scalars(select(ProcessInstance.idempotency_key)
                                      .where(ProcessInstance.idempotency_key.in_(list(keys.values())))))
        failures: list[list[Any]] = []
        began = time.monotonic()
        for handled, (number, values) in enumerate(rows):
            if handled and seconds is not None and time.monotonic() - began > seconds:
                return rows[:handled], failures
            if keys[number] in started:
                continue  # started by an earlier round that was cut off before it counted
            try:
                # the form's own start, in this round's transaction (its checks raise before anything is written)
                self.start_forms.start_from_form_in(session, RETURNS_PROCESS, values, actor, None, None,
                                                    keys[number], None)
            except (InvalidInput, NotFound) as exc:
                failures.append([number, _reason(exc)])
        return rows, failures

    def _write_alone(self, import_id: int, kind: str, single: tuple[int, dict], actor: Actor) -> None:
        number, values = single
        with self.core.db.reading() as session:
            position = session.scalar(select(SpreadsheetImport.position).where(SpreadsheetImport.id == import_id))
        if position >= number:
            return
        try:
            with self.core.db.transaction() as session:
                _rows, failures = self._write(session, import_id, kind, [single], actor)
                self._count(session, import_id, position, [single], failures)
            return
        except Conflict:
            return
        except Exception as exc:  # noqa: BLE001 - counted as this row's failure, the import goes on
            log.exception("import %s: row %s failed", import_id, number)
            reason = _reason(exc) if isinstance(exc, EngineError) else f"unexpected error: {exc}"
        with self.core.db.transaction() as session:
            self._count(session, import_id, position, [single], [[number, reason]])

    def _count(self, session: Session, import_id: int, position: int, rows: list[tuple[int, dict]],
               failures: list[list[Any]]) -> None:
        """Move the import past the rows, counting them, once: if another sweep moved it already, Conflict (the
        round's writes roll back with it)."""
        table = SpreadsheetImport
        values: dict[str, Any] = {"position": rows[-1][0], "locked_until": self.core.now() + LEASE,
                                  "done": table.done + len(rows) - len(failures)}
        if failures:
            values["failed"] = table.failed + len(failures)
            listed = session.scalar(select(table.failures).where(table.id == import_id)) or []
            if len(listed) < MAX_LISTED:
                values["failures"] = [*listed, *failures][:MAX_LISTED]
        moved = session.execute(update(table).where(table.id == import_id, table.position == position)
                                .values(**values)).rowcount
        if not moved:
            raise Conflict(f"import {import_id} moved on meanwhile")

    def _finish(self, import_id: int) -> None:
        with self.core.db.transaction() as session:
            done, failed = session.execute(select(SpreadsheetImport.done, SpreadsheetImport.failed)
                                           .where(SpreadsheetImport.id == import_id)).one()
            status = ImportStatus.FAILED if failed and not done else ImportStatus.DONE
            session.execute(update(SpreadsheetImport).where(SpreadsheetImport.id == import_id,
                                                            SpreadsheetImport.status.in_(ACTIVE))
                            .values(status=status, finished_at=self.core.now(), locked_until=None))


def case_idempotency_key(import_id: int, row_number: int) -> str:
    return f"spreadsheet-import:{import_id}:row:{row_number}"


def _reason(exc: EngineError) -> str:
    errors = getattr(exc, "errors", None) or {}
    detail = "; ".join(f"{name}: {reason}" for name, reason in errors.items())
    return f"{exc.message} ({detail})" if detail else exc.message
