"""An injectable clock, also used by SpiffWorkflow's timer events while a command runs."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock tests move by hand, so SLA timers of days can be checked in milliseconds."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


_current: contextvars.ContextVar[Clock | None] = contextvars.ContextVar("loopline_clock", default=None)


class _ClockedDatetime(datetime):
    """`datetime` whose now() asks the clock of the running command."""

    @classmethod
    def now(cls, tz=None):  # noqa: D102 - same contract as datetime.now
        clock = _current.get()
        if clock is None:
            return super().now(tz)
        moment = clock.now()
        return moment.astimezone(tz) if tz is not None else moment.astimezone().replace(tzinfo=None)


# SpiffWorkflow reads time through this module's `datetime` name only.
_spiff_timer.datetime = _ClockedDatetime


@contextmanager
def using_clock(clock: Clock) -> Iterator[None]:
    """Make SpiffWorkflow's timers read `clock` for the duration of a command."""
    token = _current.set(clock)
    try:
        yield
    finally:
        _current.reset(token)
