"""What a server-side list reads from its query string: the filters that have a value, sorting, a day range."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import request


def list_args(*keys: str) -> dict[str, str]:
    """The list's query-string filters that have a value (page excluded: the links set it)."""
    return {key: request.args.get(key, "").strip() for key in (*keys, "sort", "order")
            if request.args.get(key, "").strip()}


def day_range(args: dict[str, str]) -> tuple[datetime | None, datetime | None]:
    """[from, to] days of the filter as a half-open UTC range; a malformed day is ignored."""
    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(args[name]) if name in args else None
        except ValueError:
            args.pop(name)
            return None
    start, end = day("from"), day("to")
    return (datetime.combine(start, time(), tzinfo=UTC) if start else None,
            datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC) if end else None)
