"""Times as the reader reads them: in their zone (their profile's, else their browser's, else UTC), the zone
always named, with "in 3 hours" / "2 days ago" where that helps. The API keeps ISO 8601 UTC; only pages use this."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from babel.dates import format_timedelta
from flask import Flask, g, has_request_context, request
from flask_babel import get_locale
from flask_security import current_user
from markupsafe import Markup

# Set by web/static/loopline/time-zone.js from Intl.DateTimeFormat().resolvedOptions().timeZone
ZONE_COOKIE = "loopline_tz"
DEFAULT_ZONE = "UTC"
FORMATS = {"minute": "%Y-%m-%d %H:%M", "second": "%Y-%m-%d %H:%M:%S"}


@lru_cache(maxsize=1)
def _zone_set() -> frozenset[str]:
    return frozenset(available_timezones() | {DEFAULT_ZONE})


def zone_names() -> list[str]:
    """Every IANA zone this machine knows, sorted (what a person may choose)."""
    return sorted(_zone_set())


def known_zone(name: str | None) -> ZoneInfo | None:
    """The zone of an IANA name, or None for anything else (a cookie is untrusted input)."""
    if not name or len(name) > 64 or name not in _zone_set():
        return None
    return ZoneInfo(name)


def reader_zone() -> ZoneInfo:
    """The signed-in person's chosen zone, else the browser's, else UTC (once per request)."""
    if not has_request_context():
        return ZoneInfo(DEFAULT_ZONE)
    if "reader_zone" not in g:
        chosen = getattr(current_user, "time_zone", None) if current_user and current_user.is_authenticated else None
        g.reader_zone = known_zone(chosen) or browser_zone() or ZoneInfo(DEFAULT_ZONE)
    return g.reader_zone


def browser_zone() -> ZoneInfo | None:
    """The zone the browser reported in its cookie, if it is a real one."""
    return known_zone(request.cookies.get(ZONE_COOKIE)) if has_request_context() else None


def as_utc(value: datetime | str) -> datetime:
    """An aware UTC datetime from a datetime or ISO 8601 text; naive values are UTC (as the database keeps them)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def offset_text(offset: timedelta | None) -> str:
    """UTC+08:00, UTC-05:30, UTC."""
    minutes = int((offset or timedelta()).total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def zone_label(local: datetime) -> str:
    """The zone's usual abbreviation at that moment (CST, CET, UTC), else its offset (UTC+04:00)."""
    abbreviation = local.tzname() or ""
    return abbreviation if abbreviation.isalpha() else offset_text(local.utcoffset())


def absolute_text(value: datetime | str, zone: ZoneInfo, style: str = "minute") -> str:
    """2026-12-03 15:57 CST: the moment in the zone, the zone named."""
    local = as_utc(value).astimezone(zone)
    return f"{local.strftime(FORMATS[style])} {zone_label(local)}"


def relative_text(value: datetime | str, now: datetime, locale) -> str:
    """'in 3 hours' / '2 days ago' (3小时后 / 2天前) from now, in the locale."""
    return format_timedelta(as_utc(value) - as_utc(now), add_direction=True, locale=locale)


def duration_text(length: timedelta | float | int, locale) -> str:
    """A length of time for people: '2 days', '5 minutes' (2天, 5分钟); numbers are seconds."""
    span = length if isinstance(length, timedelta) else timedelta(seconds=float(length))
    return format_timedelta(abs(span), locale=locale)


def time_element(value: datetime | str | None, zone: ZoneInfo, locale, now: datetime, *, style: str = "minute",
                 relative: bool = False) -> Markup:
    """<time datetime="…Z" title="Asia/Shanghai (UTC+08:00)">2026-12-03 15:57 CST</time>, plus 'in 3 hours'."""
    if value is None or value == "":
        return Markup("")
    moment = as_utc(value)
    local = moment.astimezone(zone)
    title = f"{zone.key} ({offset_text(local.utcoffset())})"
    html = Markup('<time datetime="{iso}" title="{title}">{text}</time>').format(
        iso=moment.isoformat().replace("+00:00", "Z"), title=title, text=absolute_text(moment, zone, style))
    if relative:
        html += Markup(' <span class="when-relative">{}</span>').format(relative_text(moment, now, locale))
    return html


def _locale():
    return get_locale() or "en"


def when(value: datetime | str | None, style: str = "minute", relative: bool = False) -> Markup:
    """Jinja: {{ task.due_at|when(relative=True) }} in the reader's zone and language."""
    return time_element(value, reader_zone(), _locale(), datetime.now(UTC), style=style, relative=relative)


def ago(value: datetime | str | None) -> str:
    """Jinja: {{ key.last_used_at|ago }} -> '2 days ago' (no absolute time; use `when` for that)."""
    return "" if value in (None, "") else relative_text(value, datetime.now(UTC), _locale())


def duration(length: timedelta | float | int | None) -> str:
    """Jinja: {{ (ended - started)|duration }} -> '3 days'."""
    return "" if length is None else duration_text(length, _locale())


def init_time_display(app: Flask) -> None:
    """The one way pages print a time: the `when`, `ago` and `duration` filters."""
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.globals["reader_zone"] = reader_zone
    app.jinja_env.globals["ZONE_COOKIE"] = ZONE_COOKIE
    app.jinja_env.globals["now_utc"] = lambda: datetime.now(UTC)

