"""Times on pages: the reader's zone named, relative phrases and durations in English and Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from tests.conftest import ADMIN
from tests.web.test_pages import signed_in, site  # noqa: F401  (fixture)
from web import time_display
from web.time_display import (
    ZONE_COOKIE,
    absolute_text,
    duration_text,
    known_zone,
    offset_text,
    relative_text,
    time_element,
)

MOMENT = datetime(2026, 12, 3, 7, 57, 18, 601404, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("zone", "expected"), [
    ("Asia/Shanghai", "2026-12-03 15:57 CST"),
    ("UTC", "2026-12-03 07:57 UTC"),
    ("Europe/Berlin", "2026-12-03 08:57 CET"),
    ("America/New_York", "2026-12-03 02:57 EST"),
    ("Asia/Dubai", "2026-12-03 11:57 UTC+04:00"),  # no letters for this zone: its offset instead
    ("Asia/Kolkata", "2026-12-03 13:27 IST"),
])
def test_a_moment_is_shown_in_the_zone_and_names_it(zone, expected):
    assert absolute_text(MOMENT, ZoneInfo(zone)) == expected


def test_summer_time_changes_the_name_and_the_hour():
    july = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert absolute_text(july, ZoneInfo("Europe/Berlin")) == "2026-07-01 14:00 CEST"


def test_seconds_when_asked_and_text_or_naive_values_read_as_utc():
    assert absolute_text(MOMENT, SHANGHAI, style="second") == "2026-12-03 15:57:18 CST"
    assert absolute_text("2026-12-03T07:57:18.601404+00:00", SHANGHAI) == "2026-12-03 15:57 CST"
    assert absolute_text(datetime(2026, 12, 3, 7, 57), SHANGHAI) == "2026-12-03 15:57 CST"


def test_offsets():
    assert offset_text(timedelta(hours=8)) == "UTC+08:00"
    assert offset_text(timedelta(hours=-5, minutes=-30)) == "UTC-05:30"
    assert offset_text(timedelta()) == "UTC"


def test_the_time_element_keeps_utc_for_machines_and_names_the_zone_for_people():
    html = str(time_element(MOMENT, SHANGHAI, "en", MOMENT - timedelta(hours=3), relative=True))
    assert 'datetime="2026-12-03T07:57:18.601404Z"' in html
    assert 'title="Asia/Shanghai (UTC+08:00)"' in html
    assert ">2026-12-03 15:57 CST</time>" in html
    assert "in 3 hours" in html
    assert "+00:00" not in html
    assert str(time_element(None, SHANGHAI, "en", MOMENT)) == ""


@pytest.mark.parametrize(("shift", "locale", "expected"), [
    (timedelta(hours=3), "en", "in 3 hours"),
    (timedelta(days=-2), "en", "2 days ago"),
    (timedelta(minutes=-5), "en", "5 minutes ago"),
    (timedelta(hours=3), "zh_Hans_CN", "3小时后"),
    (timedelta(days=-2), "zh_Hans_CN", "2天前"),
])
def test_relative_times_in_both_languages(shift, locale, expected):
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert relative_text(now + shift, now, locale) == expected


@pytest.mark.parametrize(("length", "locale", "expected"), [
    (timedelta(days=2, hours=1), "en", "2 days"),
    (timedelta(minutes=5), "en", "5 minutes"),
    (90, "en", "2 minutes"),
    (timedelta(days=2, hours=1), "zh_Hans_CN", "2天"),
    (timedelta(hours=-3), "zh_Hans_CN", "3小时"),
])
def test_durations_in_both_languages(length, locale, expected):
    assert duration_text(length, locale) == expected


def test_only_real_zone_names_are_taken():
    assert known_zone("Asia/Shanghai") == SHANGHAI
    for bad in ("", None, "Mars/Olympus", "../../etc/passwd", "Asia/" + "x" * 80):
        assert known_zone(bad) is None


def _reader_zone(monkeypatch, *, cookie=None, person_zone=None):
    person = SimpleNamespace(is_authenticated=person_zone is not None, time_zone=person_zone)
    monkeypatch.setattr(time_display, "current_user", person)
    app = Flask(__name__)
    headers = {"Cookie": f"{ZONE_COOKIE}={cookie}"} if cookie else {}
    with app.test_request_context("/", headers=headers):
        return time_display.reader_zone().key


def test_the_profile_wins_then_the_browser_then_utc(monkeypatch):
    assert _reader_zone(monkeypatch, cookie="America/Chicago", person_zone="Asia/Shanghai") == "Asia/Shanghai"
    assert _reader_zone(monkeypatch, cookie="America/Chicago", person_zone="") == "America/Chicago"
    assert _reader_zone(monkeypatch, cookie="Nowhere/Land") == "UTC"
    assert _reader_zone(monkeypatch) == "UTC"


def test_the_profile_keeps_a_real_zone_and_pages_follow_it(site):  # noqa: F811
    clerk = signed_in(site, "warehouse")
    assert "UTC" in clerk.get("/profile").data.decode()
    refused = clerk.post("/profile", data={"csrf_token": clerk.csrf, "time_zone": "Mars/Olympus"})
    assert refused.status_code == 422 and "Choose a time zone from the list." in refused.data.decode()
    saved = clerk.post("/profile", data={"csrf_token": clerk.csrf, "time_zone": "Asia/Shanghai"})
    assert saved.status_code == 302
    inbox = clerk.get("/inbox", headers={"Cookie": f"{ZONE_COOKIE}=America/Chicago"}).data.decode()
    assert 'data-time-zone="Asia/Shanghai"' in inbox and 'class="zone"' in inbox
    clerk.post("/profile", data={"csrf_token": clerk.csrf, "time_zone": ""})
    assert 'data-time-zone="UTC"' in clerk.get("/inbox").data.decode()


def test_the_api_keeps_iso_utc(site, web_engine):  # noqa: F811
    instance = web_engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 10, "customer": "c"})
    clerk = signed_in(site, "admin")
    clerk.post("/profile", data={"csrf_token": clerk.csrf, "time_zone": "Asia/Shanghai"})
    answer = clerk.get(f"/api/v1/instances/{instance.id}")
    assert answer.status_code == 200, answer.data[:300]
    started = answer.get_json()["startedAt"]
    assert started.endswith(("+00:00", "Z")) and datetime.fromisoformat(started) == instance.started_at
