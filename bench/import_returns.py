"""Time of a spreadsheet import of 50,000 returns (reports only, asserts nothing).

Run:   python -m bench.import_returns [--rows N]
       on the database DATABASE_URL names (migrated first), else a new SQLite file in a temporary folder.
       PostgreSQL: createdb -h 127.0.0.1 -U postgres bench_import
                   DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_import python -m bench.import_returns

Builds an XLSX of N returns rows (default 50,000) with 3 bad rows (a wrong date, a missing customer name, an
unknown reason), previews it (prints the 3 errors), starts the import of the valid rows and runs the background
rounds in this process as the sweep would, printing the progress every few seconds, then the total time and the
rows per second of each step. The RMA numbers carry the run's time, so a second run on the same database
starts new cases.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from datetime import date
from pathlib import Path

from openpyxl import Workbook

from integrations.config import IntegrationSettings
from orchestrator.actors import Actor
from orchestrator.migrate import upgrade
from orchestrator.service import Engine
from orchestrator.settings import Settings
from orchestrator.spreadsheet_imports import SpreadsheetImports
from tasks.runtime import deploy_bundled_models

OWNER = Actor("bench-owner", roles=frozenset({"process_owner"}))
HEADER = ["RMA number", "Order number", "Customer name", "Customer e-mail", "Customer mobile (E.164, for SMS)",
          "Customer address", "Customer segment", "SKU", "Lot number", "Purchase date", "Quantity",
          "Return value (EUR)", "Reason", "Description", "Requested outcome", "Return channel"]
REASONS = ("Quality defect", "wrong_item", "transit_damage", "no_reason")


def returns_workbook(rows: int, run: str) -> tuple[bytes, list[int]]:
    """The file, and the row numbers of its three bad rows."""
    bad = [rows // 4 + 2, rows // 2 + 2, rows - 1]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Returns")
    sheet.append(HEADER)
    for number in range(2, rows + 2):
        row = [f"RMA-{run}-{number}", f"SO-{number}", f"Customer {number}", f"c{number}@example.com",
               "+447700900123", f"{number} Long Road, Leeds", "consumer", f"SKU-{number % 40}", f"L-{number % 97}",
               date(2025, 1 + number % 12, 1 + number % 28), 1 + number % 3, round(5 + number % 500 * 1.5, 2),
               REASONS[number % len(REASONS)], "stopped working", "refund", "carrier_parcel"]
        if number == bad[0]:
            row[9] = "2025-02-30"
        elif number == bad[1]:
            row[2] = ""
        elif number == bad[2]:
            row[12] = "bored of it"
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue(), bad


def build_engine(url: str, home: Path) -> Engine:
    settings = Settings.from_env({}, home=home, database_url=url, environment="development")
    upgrade(settings.database_url)
    engine = Engine(settings, integration_settings=IntegrationSettings.from_env({}))
    deployed, problems = deploy_bundled_models(engine)
    for problem in problems:
        print(f"deploy: {problem}")
    return engine


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="bench-import-"))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{home / 'loopline.db'}"
    engine = build_engine(url, home)
    print(f"database: {engine.db.engine.dialect.name}; rows: {args.rows:,}")
    run = time.strftime("%H%M%S")

    began = time.perf_counter()
    content, bad = returns_workbook(args.rows, run)
    built = time.perf_counter() - began
    print(f"file: {len(content) / 1e6:.1f} MB XLSX built in {built:.1f} s (bad rows {bad})")

    imports = SpreadsheetImports(engine, engine.start_forms)
    began = time.perf_counter()
    preview = imports.preview("returns", content, "bench-returns.xlsx", actor=OWNER)
    previewed = time.perf_counter() - began
    print(f"preview: {preview.total_rows:,} rows, {preview.valid_rows:,} valid, {preview.error_count} errors "
          f"in {previewed:.1f} s ({preview.total_rows / previewed:,.0f} rows/s)")
    for row, column, reason in preview.errors:
        print(f"  row {row}, column {column!r}: {reason}")

    imports.start_import(preview.id, actor=OWNER, valid_rows_only=True)
    began = last = time.perf_counter()
    while imports.run_round().more:
        if time.perf_counter() - last >= 5:
            last = time.perf_counter()
            view = imports.get_import(preview.id, actor=OWNER)
            rate = view.handled / (last - began)
            print(f"  {view.handled:,} of {view.valid_rows:,} rows ({view.percent} %), {rate:,.0f} rows/s")
    imported = time.perf_counter() - began
    view = imports.get_import(preview.id, actor=OWNER)
    print(f"import: {view.status}, {view.done:,} cases started, {view.failed} failed in {imported:.1f} s "
          f"({view.done / imported:,.0f} rows/s)")
    total = previewed + imported
    print(f"total (preview + import): {total:.1f} s, {preview.valid_rows / total:,.0f} rows/s")
    engine.db.dispose()


if __name__ == "__main__":
    main()
