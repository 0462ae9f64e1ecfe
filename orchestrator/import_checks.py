"""The check of an uploaded table against a kind's columns: which headers are known, each row checked, repeats
of the kind's unique value found, and the errors as (row, column as the file names it, reason)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.import_kinds import RowChecker, RowProblems, header_key
from orchestrator.spreadsheet_files import SheetRows

MAX_LISTED = 1000  # errors and failures kept with their reason; the counts go on past them


@dataclass
class CheckedRows:
    used: dict[str, int]  # column id → index of its header in the file
    ignored: list[str]  # headers no column of the kind matches
    labels: dict[str, str]  # every column of the kind: id → English label
    header: list[str]
    valid: list[dict[str, Any]] = field(default_factory=list)  # {"row_number", "values"}
    errors: list[list[Any]] = field(default_factory=list)  # [row, column, reason], the first MAX_LISTED
    error_count: int = 0

    def add_error(self, row: int, column: str, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_LISTED:
            self.errors.append([row, column, reason])

    @property
    def columns(self) -> dict[str, Any]:
        """What the import row keeps of the columns."""
        return {"used": {column_id: self.header[index] for column_id, index in self.used.items()},
                "ignored": self.ignored, "labels": self.labels}

    @property
    def no_known_column(self) -> str:
        expected = ", ".join(list(self.labels.values())[:6])
        return f"the file has no known column (expected columns such as: {expected})"


def check_rows(sheet: SheetRows, checker: RowChecker) -> CheckedRows:
    """Every row checked; a missing required column is one error on row 1 (the header)."""
    used, ignored = map_header(sheet.header, checker)
    checked = CheckedRows(used, ignored, {column.id: column.label for column in checker.columns}, sheet.header)
    if not used:
        return checked
    for column in checker.columns:
        if column.required and column.id not in used:
            checked.add_error(1, column.label, "the column is missing; it is required")
    seen: dict[Any, int] = {}
    for number, cells in sheet.rows:
        try:
            values = checker.check({column_id: cells[index] for column_id, index in used.items()})
            key = checker.unique(values) if checker.unique else None
            if key not in (None, "") and key in seen:
                raise RowProblems({checker.unique_column: f"repeats row {seen[key]}"})
        except RowProblems as exc:
            for column_id, reason in exc.problems.items():
                checked.add_error(number, shown_column(column_id, checked), reason)
            continue
        if key not in (None, ""):
            seen[key] = number
        checked.valid.append({"row_number": number, "values": values})
    return checked


def map_header(header: list[str], checker: RowChecker) -> tuple[dict[str, int], list[str]]:
    """Column id → index of its header (by id or English label, without case or spaces); headers not known."""
    known: dict[str, str] = {}
    for column in checker.columns:
        known.setdefault(header_key(column.id), column.id)
        known.setdefault(header_key(column.label), column.id)
    used: dict[str, int] = {}
    ignored: list[str] = []
    for index, text in enumerate(header):
        column_id = known.get(header_key(text)) if text else None
        if column_id is None or column_id in used:
            if text:
                ignored.append(text)
            continue
        used[column_id] = index
    return used, ignored


def shown_column(column_id: str, checked: CheckedRows) -> str:
    """The column as the file names it (else the column's label)."""
    if column_id in checked.used:
        return checked.header[checked.used[column_id]]
    return checked.labels.get(column_id, column_id)
