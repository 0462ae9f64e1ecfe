"""SQL shared by the forward scope and the backward trace: the starting nodes of the trace graph.

A node is a lot (sku, lot, epc '') or a unit ('', '', epc), matched by equality on `trace_event_item`'s node
index. The suspects travel as one JSON parameter (no limit on the number of bind variables, one plan); a
serial range becomes a range scan over the commissioned units. Everything is plain SQL with `WITH RECURSIVE`
so SQLite and PostgreSQL run the same statements; only the JSON table function and the digit test differ.
Columns the recursion carries are cast to TEXT: PostgreSQL wants one type in both terms of a recursive union.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from integrations.traceability.suspects import SerialRange, Suspects

JSON_ROWS = {
    "postgresql": "SELECT s.value->>0, s.value->>1, s.value->>2 FROM json_array_elements(CAST(:seeds AS json)) AS s(value)",
    "sqlite": "SELECT json_extract(s.value, '$[0]'), json_extract(s.value, '$[1]'), json_extract(s.value, '$[2]') "
              "FROM json_each(:seeds) AS s",
}
ALL_DIGITS = {
    "postgresql": "{text} ~ '^[0-9]+$'",
    "sqlite": "{text} NOT GLOB '*[^0-9]*'",
}


def dialect_of(session: Session) -> str:
    name = session.get_bind().dialect.name
    if name not in JSON_ROWS:
        raise RuntimeError(f"traceability queries support SQLite and PostgreSQL, not {name}")
    return name


def range_rows(dialect: str, number: int) -> str:
    """Units commissioned under a SKU whose serial lies in range `number` (params rs/rf/rt/rn/rp/rx + number)."""
    digits = ALL_DIGITS[dialect].format(text=f"substr(o.epc, :rp{number} + 1)")
    return (
        "SELECT '', '', CAST(o.epc AS TEXT) FROM trace_event_item o "
        f"JOIN trace_event_item i ON i.event_id = o.event_id AND i.role = 'input' AND i.sku = :rs{number} "
        f"WHERE o.role = 'output' AND o.sku = '' AND o.lot = '' AND o.epc BETWEEN :rf{number} AND :rt{number} "
        f"AND length(o.epc) = :rn{number} AND substr(o.epc, 1, :rp{number}) = :rx{number} AND {digits}"
    )


def range_params(number: int, serial_range: SerialRange) -> dict[str, Any]:
    prefix = serial_range.prefix
    return {f"rs{number}": serial_range.sku, f"rf{number}": serial_range.first, f"rt{number}": serial_range.last,
            f"rn{number}": len(serial_range.first), f"rp{number}": len(prefix), f"rx{number}": prefix}


def seed_cte(dialect: str, suspects: Suspects) -> tuple[str, dict[str, Any]]:
    """`seed(sku, lot, epc) AS (…)`: the suspects as graph nodes, and its parameters."""
    nodes = [[sku, lot, ""] for sku, lot in suspects.lots] + [["", "", serial] for serial in suspects.serials]
    # the LIMIT tells PostgreSQL's planner how many rows the JSON gives (it assumes 100 for any set-returning
    # function); with that overestimate compounded by the recursion it would hash-join whole tables
    parts = [f"SELECT * FROM ({JSON_ROWS[dialect]} LIMIT :seed_count) AS listed"]
    params: dict[str, Any] = {"seeds": json.dumps(nodes), "seed_count": len(nodes)}
    for number, serial_range in enumerate(suspects.ranges):
        parts.append(range_rows(dialect, number))
        params.update(range_params(number, serial_range))
    return "seed(sku, lot, epc) AS (" + " UNION ALL ".join(parts) + ")", params


# Every join of a walk is a probe by key on an index. PostgreSQL's estimates for recursive CTEs compound
# (each level assumed ten times the last), so left alone it hash- or merge-joins whole tables (a million
# events: seconds, plus seconds of JIT compiling). Nested loops only, without JIT, for the walk alone.
WALK_SETTINGS = {"enable_hashjoin": "off", "enable_mergejoin": "off", "jit": "off"}
SET_CONFIG = ", ".join(f"set_config('{name}', :{name}, :local)" for name in WALK_SETTINGS)


def run_walk(session: Session, statement, params: dict[str, Any]) -> list[Row]:
    """All rows of a walk statement; on PostgreSQL under WALK_SETTINGS, which end with it."""
    if dialect_of(session) != "postgresql":
        return list(session.execute(statement, params).all())
    if session.connection().get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        # a reading session runs each statement on its own: set for the session, run, put the values back
        current = session.execute(text("SELECT " + ", ".join(f"current_setting('{n}')" for n in WALK_SETTINGS))).one()
        session.execute(text(f"SELECT {SET_CONFIG}"), {**WALK_SETTINGS, "local": False})
        try:
            return list(session.execute(statement, params).all())
        finally:
            session.execute(text(f"SELECT {SET_CONFIG}"), {**dict(zip(WALK_SETTINGS, current, strict=True)),
                                                            "local": False})
    savepoint = session.begin_nested()  # inside a transaction: local settings that the rollback takes back
    try:
        session.execute(text(f"SELECT {SET_CONFIG}"), {**WALK_SETTINGS, "local": True})
        return list(session.execute(statement, params).all())
    finally:
        savepoint.rollback()


def lot_label(sku: str | None, lot: str | None) -> str:
    return f"{sku or ''}/{lot or ''}"
