"""Tables as spreadsheet files and back: write a title, column headers and rows of cells as CSV or XLSX, and read
an uploaded CSV or XLSX into a header and rows of text.

Text that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage return) is
neutralised when written: in CSV it gets a leading apostrophe, in XLSX it is stored as text marked "quoted" (the
value kept, never a formula). CSV is UTF-8 with a byte-order mark, so that Excel reads non-ASCII text right.
Reading is bounded (file size, rows, columns) and tells a file that is neither CSV nor XLSX apart clearly."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv"
XLSX_MAX_CELL = 32_767  # what a spreadsheet cell holds; longer texts are cut (the CSV has them whole)
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CUT_MARKER = "… [cut: the CSV export has the whole value]"

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 200
MAX_CELL_CHARACTERS = 10_000
# an XLSX is a ZIP: its parts, unpacked, are bounded too, so a small file cannot unpack into gigabytes
MAX_UNPACKED_BYTES = 400 * 1024 * 1024
MAX_SHARED_STRINGS_BYTES = 100 * 1024 * 1024  # read into memory whole (the sheet itself is streamed)
MAX_PARTS = 1_000


@dataclass(frozen=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes
    rows: int
    capped: bool = False


@dataclass(frozen=True)
class Table:
    """What a file holds: a sheet `title`, the column headers, the rows (cells in column order, read lazily),
    and `notes` (name, value) written on a second sheet of an XLSX file."""

    title: str
    columns: Sequence[str]
    rows: Iterable[Sequence[Any]]
    notes: Sequence[tuple[str, Any]] = ()


class UnreadableSpreadsheet(ValueError):
    """The upload is not a CSV or XLSX file we can read, or passes a limit; the message says which."""


@dataclass(frozen=True)
class SheetRows:
    """An uploaded table: header texts (trimmed) and data rows as (the spreadsheet's row number, cell texts, ""
    for an empty cell, as many as the header has)."""

    header: list[str]
    rows: list[tuple[int, list[str]]]


def neutralised(value: Any) -> Any:
    """A text a spreadsheet would take for a formula, with a leading apostrophe; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def xlsx_text(value: str) -> str:
    """The text as a cell can hold it: XML-illegal characters replaced, cut at the cell's limit."""
    cleaned = _XML_ILLEGAL.sub("\ufffd", value)
    if len(cleaned) > XLSX_MAX_CELL:
        cleaned = cleaned[:XLSX_MAX_CELL - len(_CUT_MARKER)] + _CUT_MARKER
    return cleaned


def xlsx_text_cell(sheet, value: str) -> WriteOnlyCell | str:
    """A text for a write-only sheet, kept text even when it starts like a formula."""
    text = xlsx_text(value)
    if not value.startswith(FORMULA_STARTS):
        return text  # a plain value is cheaper than a cell of its own
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # openpyxl would store a text starting with "=" as a formula
    cell.quotePrefix = True  # and the spreadsheet keeps it text when someone edits the cell
    return cell


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return neutralised(value)


def csv_chunks(table: Table) -> Iterator[bytes]:
    """The table as CSV, a few hundred rows per chunk (for a streamed response): BOM, header, rows; every field
    quoted, so that a spreadsheet splitting on ";" still keeps "x;=y" in one cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    buffer.write("\ufeff")
    writer.writerow([_csv_cell(name) for name in table.columns])
    for number, row in enumerate(table.rows, start=1):
        writer.writerow([_csv_cell(cell) for cell in row])
        if number % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def table_csv(table: Table, filename: str) -> ExportFile:
    """The whole table as one CSV file."""
    counted = _Counted(table.rows)
    content = b"".join(csv_chunks(Table(table.title, table.columns, counted, table.notes)))
    return ExportFile(filename, CSV_MEDIA_TYPE, content, counted.count)


def table_xlsx(table: Table, filename: str, widths: Sequence[int] = ()) -> ExportFile:
    """A sheet named after the title (header row bold and frozen), and a sheet "Export" with the notes."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_sheet_title(table.title))
    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths or [max(10, min(40, len(str(c)) + 4)) for c in table.columns]):
        sheet.column_dimensions[_column_letter(index)].width = width
    bold = Font(bold=True)
    header = []
    for name in table.columns:
        cell = WriteOnlyCell(sheet, value=xlsx_text(str(name)))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    count = 0
    for row in table.rows:
        sheet.append([_xlsx_cell(sheet, cell) for cell in row])
        count += 1
    if table.notes:
        notes = workbook.create_sheet("Export")
        for name, value in table.notes:
            notes.append([name, xlsx_text_cell(notes, value) if isinstance(value, str) else value])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return ExportFile(filename, XLSX_MEDIA_TYPE, buffer.getvalue(), count)


def _xlsx_cell(sheet, value: Any) -> Any:
    """A cell of a write-only sheet: text kept text, a time with its zone as ISO 8601 text (a spreadsheet's
    dates have no zone)."""
    if isinstance(value, datetime | time) and value.tzinfo is not None:
        value = value.isoformat()
    return xlsx_text_cell(sheet, value) if isinstance(value, str) else value


class _Counted:
    def __init__(self, rows: Iterable[Sequence[Any]]):
        self.rows = rows
        self.count = 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


def _sheet_title(title: str) -> str:
    cleaned = re.sub(r"[\[\]:*?/\\]", " ", title).strip() or "Sheet"
    return cleaned[:31]  # a sheet name holds at most 31 characters


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# -- reading ----------------------------------------------------------------------------------------------------
def read_spreadsheet(content: bytes, filename: str = "", *, max_rows: int = MAX_ROWS) -> SheetRows:
    """The first sheet of an XLSX file, or a CSV file (UTF-8, with or without BOM, else Windows-1252; comma,
    semicolon or tab), as texts. Empty rows are skipped (their numbers still count)."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise UnreadableSpreadsheet(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    if not content.strip():
        raise UnreadableSpreadsheet("the file is empty")
    if content[:4] == b"PK\x03\x04":
        numbered = _xlsx_rows(content)
    elif filename.lower().endswith((".xlsx", ".xlsm", ".xls", ".ods")) or b"\x00" in content[:4096]:
        raise UnreadableSpreadsheet("the file is neither CSV nor XLSX (save it as .xlsx or .csv)")
    else:
        numbered = _csv_rows(content)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for number, cells in numbered:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > MAX_COLUMNS:
            raise UnreadableSpreadsheet(f"row {number} has more than {MAX_COLUMNS} columns")
        if header is None:
            header = [cell.strip() for cell in cells]
            continue
        if len(rows) >= max_rows:
            raise UnreadableSpreadsheet(f"the file has more than {max_rows:,} rows; split it")
        width = max(len(header), len(cells))
        rows.append((number, [_checked_cell(cell, number) for cell in (cells + [""] * width)[:width]]))
    if header is None:
        raise UnreadableSpreadsheet("the file has no header row")
    return SheetRows(header, rows)


def _checked_cell(cell: str, number: int) -> str:
    if len(cell) > MAX_CELL_CHARACTERS:
        raise UnreadableSpreadsheet(f"row {number} has a cell longer than {MAX_CELL_CHARACTERS:,} characters")
    return cell


def _csv_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise UnreadableSpreadsheet("the file is neither CSV nor XLSX (it holds binary data)")
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            yield number, [_unneutralised(cell) for cell in cells]
    except csv.Error as exc:
        raise UnreadableSpreadsheet(f"the CSV file cannot be read: {exc}") from exc


def _unneutralised(cell: str) -> str:
    """A CSV cell as it was before `neutralised` (so an exported file reads back to the same values)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def _check_archive(content: bytes) -> None:
    """Refuse an XLSX whose parts would unpack past the limits, before anything is unpacked (the sizes are
    the archive's own: zipfile never reads more of a part than its stated size)."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableSpreadsheet("the file is neither CSV nor XLSX (a damaged ZIP file)") from exc
    if len(parts) > MAX_PARTS:
        raise UnreadableSpreadsheet(f"the XLSX file has more than {MAX_PARTS:,} parts")
    if sum(part.file_size for part in parts) > MAX_UNPACKED_BYTES:
        raise UnreadableSpreadsheet(f"the XLSX file unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MB")
    if any(part.filename.lower().endswith("sharedstrings.xml") and part.file_size > MAX_SHARED_STRINGS_BYTES
           for part in parts):
        raise UnreadableSpreadsheet(f"the XLSX file's shared texts unpack to more than "
                                    f"{MAX_SHARED_STRINGS_BYTES // (1024 * 1024)} MB")


def _xlsx_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    _check_archive(content)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UnreadableSpreadsheet("the file is neither CSV nor XLSX (a ZIP file without a workbook)") from exc
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [cell_text(value) for value in values]
    finally:
        workbook.close()


def cell_text(value: Any) -> str:
    """A cell's value as the text a person typed: whole numbers without ".0", dates as ISO 8601 (a date
    without a time as YYYY-MM-DD)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
