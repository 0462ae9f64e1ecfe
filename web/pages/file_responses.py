"""Files as downloads: an export built whole, or a table streamed as CSV."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from flask import Response, stream_with_context

from orchestrator.spreadsheet_files import CSV_MEDIA_TYPE, ExportFile, Table, csv_chunks, table_xlsx


def download(file: ExportFile) -> Response:
    return Response(file.content, mimetype=file.media_type, headers=attachment(file.filename))


def attachment(filename: str) -> dict[str, str]:
    """Always a download, never shown inline (a file cannot script the site)."""
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            "X-Content-Type-Options": "nosniff"}


def table_response(table: Table, stem: str, file_format: str, widths: Sequence[int] = ()) -> Response:
    """The table as a download: CSV streamed a few hundred rows at a time, XLSX whole (write-only)."""
    if file_format == "csv":
        return Response(stream_with_context(csv_chunks(table)), content_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
                        headers=attachment(f"{stem}.csv"))
    return download(table_xlsx(table, f"{stem}.xlsx", widths))
