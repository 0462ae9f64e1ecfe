"""Quartz cron expressions (Camunda 7 `timeCycle`): the examples of the Quartz CronTrigger tutorial with their
next fire times, the special characters, refusals in plain words, and the search staying bounded."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchestrator.expressions.cron import CronError, looks_like_cron, parse_cron
from orchestrator.timer_values import MAX_TIMER_HORIZON, TimerValueError, cron_first, cron_next

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # Monday 5 January 2026, 09:00 UTC


def fires(text: str, count: int = 3, after: datetime = MONDAY, zone=UTC) -> list[str]:
    cron, moments, moment = parse_cron(text), [], after
    until = after + MAX_TIMER_HORIZON
    while len(moments) < count:
        moment = cron.next_after(moment, until, zone)
        if moment is None:
            break
        moments.append(moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M:%S"))
    return moments


QUARTZ_EXAMPLES = {
    # the tutorial's table, each with the times it fires after Monday 2026-01-05 09:00
    "0 0 12 * * ?": ["Mon 2026-01-05 12:00:00", "Tue 2026-01-06 12:00:00", "Wed 2026-01-07 12:00:00"],
    "0 15 10 ? * *": ["Mon 2026-01-05 10:15:00", "Tue 2026-01-06 10:15:00", "Wed 2026-01-07 10:15:00"],
    "0 15 10 * * ?": ["Mon 2026-01-05 10:15:00", "Tue 2026-01-06 10:15:00", "Wed 2026-01-07 10:15:00"],
    "0 15 10 * * ? *": ["Mon 2026-01-05 10:15:00", "Tue 2026-01-06 10:15:00", "Wed 2026-01-07 10:15:00"],
    "0 15 10 * * ? 2027": ["Fri 2027-01-01 10:15:00", "Sat 2027-01-02 10:15:00", "Sun 2027-01-03 10:15:00"],
    "0 * 14 * * ?": ["Mon 2026-01-05 14:00:00", "Mon 2026-01-05 14:01:00", "Mon 2026-01-05 14:02:00"],
    "0 0/5 14 * * ?": ["Mon 2026-01-05 14:00:00", "Mon 2026-01-05 14:05:00", "Mon 2026-01-05 14:10:00"],
    "0 0/5 14,18 * * ?": ["Mon 2026-01-05 14:00:00", "Mon 2026-01-05 14:05:00", "Mon 2026-01-05 14:10:00"],
    "0 0-5 14 * * ?": ["Mon 2026-01-05 14:00:00", "Mon 2026-01-05 14:01:00", "Mon 2026-01-05 14:02:00"],
    "0 10,44 14 ? 3 WED": ["Wed 2026-03-04 14:10:00", "Wed 2026-03-04 14:44:00", "Wed 2026-03-11 14:10:00"],
    "0 15 10 ? * MON-FRI": ["Mon 2026-01-05 10:15:00", "Tue 2026-01-06 10:15:00", "Wed 2026-01-07 10:15:00"],
    "0 15 10 15 * ?": ["Thu 2026-01-15 10:15:00", "Sun 2026-02-15 10:15:00", "Sun 2026-03-15 10:15:00"],
    "0 15 10 L * ?": ["Sat 2026-01-31 10:15:00", "Sat 2026-02-28 10:15:00", "Tue 2026-03-31 10:15:00"],
    "0 15 10 L-2 * ?": ["Thu 2026-01-29 10:15:00", "Thu 2026-02-26 10:15:00", "Sun 2026-03-29 10:15:00"],
    "0 15 10 ? * 6L": ["Fri 2026-01-30 10:15:00", "Fri 2026-02-27 10:15:00", "Fri 2026-03-27 10:15:00"],
    "0 15 10 ? * 6L 2026-2027": ["Fri 2026-01-30 10:15:00", "Fri 2026-02-27 10:15:00", "Fri 2026-03-27 10:15:00"],
    "0 15 10 ? * 6#3": ["Fri 2026-01-16 10:15:00", "Fri 2026-02-20 10:15:00", "Fri 2026-03-20 10:15:00"],
    "0 0 12 1/5 * ?": ["Tue 2026-01-06 12:00:00", "Sun 2026-01-11 12:00:00", "Fri 2026-01-16 12:00:00"],
    "0 11 11 11 11 ?": ["Wed 2026-11-11 11:11:00", "Thu 2027-11-11 11:11:00", "Sat 2028-11-11 11:11:00"],
    # the forms the public Camunda 7 models use
    "0 0 9 * * ?": ["Tue 2026-01-06 09:00:00", "Wed 2026-01-07 09:00:00", "Thu 2026-01-08 09:00:00"],
    "0 0/5 * * * ?": ["Mon 2026-01-05 09:05:00", "Mon 2026-01-05 09:10:00", "Mon 2026-01-05 09:15:00"],
    "0/15 * * * * ?": ["Mon 2026-01-05 09:00:15", "Mon 2026-01-05 09:00:30", "Mon 2026-01-05 09:00:45"],
    "*/20 * * * * ?": ["Mon 2026-01-05 09:00:20", "Mon 2026-01-05 09:00:40", "Mon 2026-01-05 09:01:00"],
}


@pytest.mark.parametrize("text", sorted(QUARTZ_EXAMPLES))
def test_quartz_examples_fire_when_the_tutorial_says(text):
    assert fires(text) == QUARTZ_EXAMPLES[text]


@pytest.mark.parametrize("text, expected", [
    ("0 0 0 LW * ?", ["Fri 2026-01-30 00:00:00", "Fri 2026-02-27 00:00:00", "Tue 2026-03-31 00:00:00"]),
    # 1 Feb 2026 is a Sunday: the Monday after; W never leaves the month
    ("0 0 0 1W * ?", ["Mon 2026-02-02 00:00:00", "Mon 2026-03-02 00:00:00", "Wed 2026-04-01 00:00:00"]),
    # 15 Feb 2026 is a Sunday (→ Monday 16th), 15 Mar a Sunday (→ 16th)
    ("0 0 0 15W * ?", ["Thu 2026-01-15 00:00:00", "Mon 2026-02-16 00:00:00", "Mon 2026-03-16 00:00:00"]),
    # 31 May 2026 is a Sunday: the Friday before, not the Monday in June
    ("0 0 0 31W 5 ?", ["Fri 2026-05-29 00:00:00", "Mon 2027-05-31 00:00:00", "Wed 2028-05-31 00:00:00"]),
    ("0 0 0 29 2 ?", ["Tue 2028-02-29 00:00:00", "Sun 2032-02-29 00:00:00"]),
    ("0 0 9 ? * L", ["Sat 2026-01-10 09:00:00", "Sat 2026-01-17 09:00:00", "Sat 2026-01-24 09:00:00"]),
    ("0 0 9 ? * 1", ["Sun 2026-01-11 09:00:00", "Sun 2026-01-18 09:00:00", "Sun 2026-01-25 09:00:00"]),
    ("0 0 9 ? * FRI-MON", ["Fri 2026-01-09 09:00:00", "Sat 2026-01-10 09:00:00", "Sun 2026-01-11 09:00:00"]),
    ("0 0 22-2 * * ?", ["Mon 2026-01-05 22:00:00", "Mon 2026-01-05 23:00:00", "Tue 2026-01-06 00:00:00"]),
    ("0 0 9 ? jan,Jul mon#1", ["Mon 2026-01-05 09:00:00", "Mon 2026-07-06 09:00:00", "Mon 2027-01-04 09:00:00"]),
    ("0 30 8 L DEC ?", ["Thu 2026-12-31 08:30:00", "Fri 2027-12-31 08:30:00", "Sun 2028-12-31 08:30:00"]),
], ids=["last_weekday", "first_weekday", "nearest_weekday", "nearest_weekday_at_month_end", "leap_day",
        "L_alone_is_saturday", "one_is_sunday", "wrapping_day_range", "wrapping_hour_range", "names_any_case",
        "last_day_of_december"])
def test_special_characters(text, expected):
    after = MONDAY - timedelta(seconds=1) if text.endswith("mon#1") else MONDAY
    assert fires(text, after=after) == expected


def test_next_fire_is_strictly_after_the_moment_and_drops_fractions():
    cron = parse_cron("0 0 9 * * ?")
    until = MONDAY + MAX_TIMER_HORIZON
    assert cron.next_after(MONDAY, until) == datetime(2026, 1, 6, 9, tzinfo=UTC)
    just_before = MONDAY - timedelta(microseconds=1)
    assert cron.next_after(just_before, until) == MONDAY


def test_a_named_zone_reads_the_fields_in_that_zone():
    berlin = ZoneInfo("Europe/Berlin")
    assert fires("0 0 9 * * ?", 1, zone=berlin) == ["Tue 2026-01-06 09:00:00"]
    assert parse_cron("0 0 9 * * ?").next_after(MONDAY, MONDAY + MAX_TIMER_HORIZON, berlin) \
        == datetime(2026, 1, 6, 8, tzinfo=UTC)


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("0 0 9 * *", "has 5 fields; a Quartz cron expression has 6 or 7"),
    ("0 0 9 * * ? 2026 x", "has 8 fields"),
    ("0 0 9 * * *", "exactly one of day-of-month and day-of-week must be '?'"),
    ("0 0 9 ? * ?", "exactly one of day-of-month and day-of-week must be '?'"),
    ("60 * * * * ?", "seconds field '60': 60 is outside 0-59"),
    ("0 0 24 * * ?", "hours field '24': 24 is outside 0-23"),
    ("0 0 9 32 * ?", "day-of-month field '32': 32 is outside 1-31"),
    ("0 0 9 * 0 ?", "month field '0': 0 is outside 1-12"),
    ("0 0 9 * FOO ?", "month field 'FOO': 'FOO' is not a number from 1 to 12 or a name JAN-DEC"),
    ("0 0 9 ? * 8", "day-of-week field '8': 8 is outside 1-7"),
    ("0 0 9 * * ? 1969", "year field '1969': 1969 is outside 1970-2199"),
    ("0 0/0 9 * * ?", "the step after '/' must be a number from 1 to 60"),
    ("0 0/x 9 * * ?", "the step after '/' must be a number from 1 to 60"),
    ("0 0 9 L,15 * ?", "'L' and 'W' cannot be combined with other days"),
    ("0 0 9 L-31 * ?", "'L-n' needs a number of days from 1 to 30"),
    ("0 0 9 32W * ?", "32 is outside 1-31"),
    ("0 0 9 ? * 6#0", "the week after '#' must be a number from 1 to 5"),
    ("0 0 9 ? * 2#1,3#1", "'#' takes one day and one week number"),
    ("0 0 9 ? * 1-5L", "'L' takes one day"),
    ("0 0 9 6#3 * ?", "'#' is only allowed in day-of-week"),
    ("? 0 9 * * ?", "'?' is only allowed in day-of-month or day-of-week"),
    ("0 0 9 ? * 2W", "'2W' is not a number from 1 to 7 or a name SUN-SAT"),
    ("0 0 9 1,,2 * ?", "a list has an empty entry"),
])
def test_invalid_expressions_are_explained(text, words):
    with pytest.raises(CronError) as refused:
        parse_cron(text)
    assert words in refused.value.message


def test_never_firing_and_far_crons_are_refused_with_their_reason():
    with pytest.raises(TimerValueError, match="never fires"):
        cron_first("0 0 0 30 2 ?", MONDAY)
    with pytest.raises(TimerValueError, match="never fires"):
        cron_first("0 0 0 31W 4 ?", MONDAY)
    with pytest.raises(TimerValueError, match="never fires"):
        cron_first("0 0 0 * * ? 2025", MONDAY)
    with pytest.raises(TimerValueError, match="first fires on 2040-01-01, more than 10 years ahead"):
        cron_first("0 0 0 1 1 ? 2040", MONDAY)
    with pytest.raises(TimerValueError, match="is not a valid cron expression: has 5 fields"):
        cron_first("0 0 9 * *", MONDAY)
    assert cron_first("0 0 9 * * ?", MONDAY) == datetime(2026, 1, 6, 9, tzinfo=UTC)
    assert cron_next("0 0 0 1 1 ? 2026", MONDAY) is None  # its last fire time is past: the cycle ends


def test_the_search_is_bounded_even_for_rare_schedules():
    started = time.monotonic()
    for text in ("0 0 0 29 2 ?", "0 0 0 ? 2 1#5", "59 59 23 31 12 ? 2035", "0 0 0 30 2 ?", "0 0 0 ? 2 6#5 2099"):
        for _ in range(20):
            try:
                cron_first(text, MONDAY)
            except TimerValueError:
                pass
    assert time.monotonic() - started < 2.0


def test_looks_like_cron_tells_cron_text_from_iso_values_and_expressions():
    assert looks_like_cron("0 0 9 * * ?") and looks_like_cron("0 0 9 * *") and looks_like_cron("0 0/5 * * * ?")
    for other in ("R/PT1H", "PT24H", "2026-01-01T09:00:00Z", "x + 1", "due if late else other", "next tuesday"):
        assert not looks_like_cron(other), other
