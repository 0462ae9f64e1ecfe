"""The acknowledgement page speaks the notice's language and is titled with the product, not an internal number;
and in the embedded default, acknowledgement links work with no secret configured."""

from __future__ import annotations

import os
import re
import stat
from datetime import UTC, datetime

import pytest

from integrations.config import ACK_SECRET_FILE, IntegrationSettings
from integrations.notify.acks import ack_token, notification_id_of
from orchestrator.migrate import upgrade
from orchestrator.settings import Settings
from tasks.runtime import build_runtime
from tests.conftest import deploy_fixture
from tests.integrations.conftest import PUBLIC_URL
from tests.integrations.helpers import notifications, start
from tests.support.inspect import run_pending_jobs
from web.app import create_app

ACK_PATH = re.compile(re.escape(PUBLIC_URL) + r"(/ack/[A-Za-z0-9_.\-]+)")
PEOPLE = [{"id": "P1", "name": "Ann", "email": "ann@example.com"}]
TICKET = "QMS-2026-0042"


def notice(notify_engine, web_app, language: str | None):
    """A recall notice in `language` whose campaign is named with the internal ticket number."""
    engine = notify_engine(backend="outbox")
    variables = {"campaign": f"Product safety recall {TICKET}", "template": "recall_notice_consumer",
                 "recipients": PEOPLE, "ackMessage": "RecallAcknowledged",
                 "variables": {"product": "Heater H1", "hazard": "Burns.", "recallClass": "II"}}
    if language:
        variables["language"] = language
    start(engine, "recall_notice", "RECALL-LANG", **variables)
    assert run_pending_jobs(engine) == ["completed"]
    [row] = notifications(engine)
    return engine, web_app(engine).test_client(), ACK_PATH.search(row.body).group(1)


def test_the_page_is_titled_with_the_product_not_the_ticket(notify_engine, web_app):
    _, client, link = notice(notify_engine, web_app, "en")

    page = client.get(link).get_data(as_text=True)

    assert '<html lang="en">' in page
    assert "<title>Product safety recall: Heater H1</title>" in page
    assert "<h1>Product safety recall: Heater H1</h1>" in page
    assert TICKET not in page and "RECALL-LANG" not in page


def test_a_chinese_notice_gets_a_chinese_page_whatever_the_browser_says(notify_engine, web_app):
    engine, client, link = notice(notify_engine, web_app, "zh")
    assert notifications(engine)[0].language == "zh"

    form = client.get(link, headers={"Accept-Language": "en-US"})
    wrong = client.post(link, data={"remedy": "cash", "quantity": "-1"}, headers={"Accept-Language": "en-US"})
    done = client.post(link, data={"remedy": "refund", "quantity": "1"}, headers={"Accept-Language": "en-US"})

    assert '<html lang="zh-Hans">' in form.get_data(as_text=True) and "Heater H1" in form.get_data(as_text=True)
    assert "产品安全召回" in form.get_data(as_text=True)
    assert wrong.status_code == 422 and '<html lang="zh-Hans">' in wrong.get_data(as_text=True)
    assert done.status_code == 200 and '<html lang="zh-Hans">' in done.get_data(as_text=True)
    assert TICKET not in form.get_data(as_text=True) + done.get_data(as_text=True)


def test_a_link_that_names_no_notice_follows_the_browser(notify_engine, web_app):
    _, client, link = notice(notify_engine, web_app, "en")

    broken = client.get(link[:-3] + "xyz", headers={"Accept-Language": "zh-CN,zh;q=0.9"})

    assert broken.status_code == 400 and '<html lang="zh-Hans">' in broken.get_data(as_text=True)
    assert client.get(link[:-3] + "xyz").get_data(as_text=True).count('<html lang="en">') == 1


def test_the_embedded_default_keeps_an_ack_secret_in_the_instance_folder(tmp_path):
    home = tmp_path / "instance"

    first = IntegrationSettings.from_env({}, home=home).notify
    again = IntegrationSettings.from_env({"LOOPLINE_HOME": str(home)}).notify

    assert len(first.ack_secret) == 64 and again.ack_secret == first.ack_secret  # kept across restarts
    secret_file = home / ACK_SECRET_FILE
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert [p.name for p in home.iterdir()] == [ACK_SECRET_FILE]  # no draft left behind
    token = ack_token(first, "n-1", now=lambda: datetime.now(UTC))
    assert notification_id_of(again, token, now=lambda: datetime.now(UTC)) == "n-1"


def test_loopline_serve_with_no_environment_sends_working_ack_links(tmp_path, monkeypatch):
    """As `loopline serve` builds it: settings and engine from the environment, which names no secret."""
    for name in ("LOOPLINE_ACK_SECRET", "LOOPLINE_SECRET_KEY", "LOOPLINE_ENV", "LOOPLINE_NOTIFY_BACKEND",
                 "DATABASE_URL", "LOOPLINE_DATABASE_URL", "CELERY_BROKER_URL", "LOOPLINE_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOOPLINE_HOME", str(tmp_path / "instance"))
    settings = Settings.from_env()
    upgrade(settings.database_url)
    runtime = build_runtime(settings, start_embedded=False)
    engine = runtime.engine
    deploy_fixture(engine, "recall_campaign.bpmn")

    start(engine, "recall_notice", "RECALL-EMBEDDED", campaign="Kettle recall", template="recall_notice_consumer",
          recipients=PEOPLE, variables={"product": "Kettle 2", "hazard": "Burns.", "recallClass": "II"},
          ackMessage="RecallAcknowledged")

    assert run_pending_jobs(engine) == ["completed"]  # no E_NOTIFY_CONFIG
    [row] = notifications(engine)
    link = re.search(r"http://127\.0\.0\.1:8080(/ack/[A-Za-z0-9_.\-]+)", row.body).group(1)
    page = create_app(settings, engine).test_client().get(link)
    assert page.status_code == 200 and "Kettle 2" in page.get_data(as_text=True)
    assert (tmp_path / "instance" / ACK_SECRET_FILE).is_file()
    engine.db.dispose()


@pytest.mark.parametrize("environment, expected", [
    ({"LOOPLINE_ACK_SECRET": "explicit"}, "explicit"),
    ({"LOOPLINE_SECRET_KEY": "the-secret-key"}, "the-secret-key"),
    ({"LOOPLINE_ENV": "production"}, ""),  # production never makes one: it requires LOOPLINE_SECRET_KEY
])
def test_a_configured_secret_wins_and_production_makes_none(tmp_path, environment, expected):
    home = tmp_path / "instance"

    settings = IntegrationSettings.from_env(environment, home=home).notify

    assert settings.ack_secret == expected and not (home / ACK_SECRET_FILE).exists()


def test_without_an_instance_folder_no_secret_is_made(tmp_path):
    assert IntegrationSettings.from_env({}).notify.ack_secret == ""
