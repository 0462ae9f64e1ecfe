"""The public recall page: the notice for anyone once the recall is notified, a registration form that refuses
spam and wrong fields without storing anything, the registrations counted, the QR code, English and Chinese."""

from __future__ import annotations

import io
import re

import pytest
import segno

from integrations.recall_registrations import RecallRegistrationsCount, count_for, page_id_for, totals_for
from integrations.registry import IntegrationContext, JobContext
from tests.processes.driver import CONNECTORS, Run, deploy_models
from tests.processes.test_recall import SIGNAL, STRATEGY, evaluate_hazard, strategy
from web.app import create_app
from web.auth.demo import DEMO_PASSWORD, seed_demo_users
from web.auth.users import ensure_roles_and_groups
from web.extensions import db

BUYER = {"name": "Grace Hopper", "email": "grace@example.com", "phone": "", "product": "Kettle 2",
         "lot": "L-7", "quantity": "2", "remedy": "refund", "note": "Bought at the market", "website": ""}


@pytest.fixture
def site(make_engine, database):
    """The bundled models on a real engine, the app around it, and the demo people."""
    engine = make_engine(database, connector_modules=CONNECTORS)
    deploy_models(engine)
    app = create_app(engine.settings, engine)
    app.config["TESTING"] = True
    with app.app_context():
        ensure_roles_and_groups(app.extensions["security"].datastore)
        seed_demo_users(app.extensions["security"].datastore)
    yield engine, app
    with app.app_context():
        db.engine.dispose()


def decided(engine, business_key: str) -> Run:
    """A recall whose class is decided and scope computed: the strategy is not yet approved."""
    run = Run.start(engine, "recall", SIGNAL, business_key=business_key)
    run.run_jobs("open_recall_case")
    evaluate_hazard(run)
    run.complete("decide_recall", {"recallClass": "II", "decisionRationale": "Burns are possible"})
    run.run_jobs("compute_scope")
    return run


def notified(engine, business_key: str = "RC-PUBLIC-1") -> Run:
    run = decided(engine, business_key)
    strategy(run)
    run.complete("approve_strategy", {"strategyApproved": True})
    return run


def page_id(engine, run: Run) -> str:
    with engine.db.transaction() as session:
        return page_id_for(session, run.id, engine.now())


def token_of(page: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', page).group(1)


def registrations(engine, run: Run) -> int:
    with engine.db.reading() as session:
        return count_for(session, run.id)


@pytest.fixture
def public(site, clock):
    """A notified recall, its public id and a client that has opened the form a few seconds ago."""
    engine, app = site
    run = notified(engine)
    public_id = page_id(engine, run)
    client = app.test_client()

    def fresh_form(**headers) -> str:
        page = client.get(f"/recalls/{public_id}", headers=headers)
        assert page.status_code == 200
        clock.advance(seconds=10)
        return token_of(page.get_data(as_text=True))

    return engine, client, run, public_id, fresh_form


def test_a_notified_recall_has_a_public_page_without_sign_in(public):
    engine, client, run, public_id, _ = public

    answer = client.get(f"/recalls/{public_id}", headers={"Accept-Language": "en"})

    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "<title>Product safety recall: Kettle 2 (KETTLE-2)</title>" in page
    assert ">Urgent<" in page  # class II
    assert STRATEGY["hazardDescription"] in page and STRATEGY["consumerInstructions"] in page
    assert STRATEGY["coordinatorContact"] in page
    assert "<td>KETTLE-2</td><td>L-7</td>" in page
    assert all(f'name="remedy" value="{remedy}"' in page for remedy in ("refund", "repair", "replace"))
    # no internal number: not the case, not its business key, not the QMS ticket
    ticket = run.variables["recallTicketId"]
    assert run.id not in page and "RC-PUBLIC-1" not in page and str(ticket) not in page
    assert "<script" not in page and "style=" not in page  # the site's Content-Security-Policy holds
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert 'name="website"' in page and 'class="hp"' in page


def test_only_a_notified_recall_is_public(site):
    engine, app = site
    client = app.test_client()
    pending = decided(engine, "RC-PENDING")  # strategy not yet approved
    pending_id = page_id(engine, pending)

    assert client.get(f"/recalls/{pending_id}").status_code == 404
    assert client.get(f"/recalls/{pending_id}/qr.png").status_code == 404
    assert client.post(f"/recalls/{pending_id}", data=BUYER).status_code == 404
    assert client.get("/recalls/" + "A" * 20).status_code == 404  # never made
    assert client.get("/recalls/not-an-id").status_code == 404  # wrong shape
    assert client.get(f"/recalls/{pending.id}").status_code == 404  # the case id is not a public id

    strategy(pending)
    pending.complete("approve_strategy", {"strategyApproved": True})
    assert client.get(f"/recalls/{pending_id}").status_code == 200  # the same address once notified


def test_a_registration_is_stored_and_counted(public):
    engine, client, run, public_id, fresh_form = public

    answer = client.post(f"/recalls/{public_id}", data={**BUYER, "form_token": fresh_form(), "lang": "en"})

    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Thank you, your product is registered" in page
    assert "Kettle 2 – L-7" in page and "Refund" in page
    assert registrations(engine, run) == 1
    client.post(f"/recalls/{public_id}", data={**BUYER, "name": "Alan", "email": "", "phone": "+44 20 7946 0000",
                                               "quantity": "3", "remedy": "repair", "form_token": fresh_form()})
    with engine.db.reading() as session:
        totals = totals_for(session, run.id)
    assert (totals.count, totals.quantity, totals.by_remedy) == (2, 5, {"refund": 1, "repair": 1})
    # what a service task of the recall (topic recall.registrations) hands the process for its status report
    connector = RecallRegistrationsCount(IntegrationContext(engine.integration_settings, engine.db.sessions,
                                                            engine.now))
    job = JobContext(1, run.id, "RC-PUBLIC-1", "count_registrations", connector.topic, 1, "key")
    assert connector.run({}, job) == {
        "registrations": 2, "registeredQuantity": 5, "registrationsByRemedy": {"refund": 1, "repair": 1},
        "publicPageUrl": f"{engine.integration_settings.notify.ack_base_url}/recalls/{public_id}"}


@pytest.mark.parametrize("spam", ["honeypot", "too_fast", "expired", "forged", "other_page", "missing"])
def test_a_spam_post_is_refused_and_nothing_is_stored(public, clock, spam):
    engine, client, run, public_id, fresh_form = public
    token = fresh_form()
    data = {**BUYER, "form_token": token}
    expected = "The form could not be accepted"
    if spam == "honeypot":
        data["website"] = "http://cheap-pills.example"
    elif spam == "too_fast":
        data["form_token"] = token_of(client.get(f"/recalls/{public_id}").get_data(as_text=True))  # no wait
        expected = "The form was sent very soon after the page opened"
    elif spam == "expired":
        clock.advance(days=1, seconds=1)
        expected = "The form was open for too long"
    elif spam == "forged":
        data["form_token"] = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif spam == "other_page":
        other = page_id(engine, notified(engine, "RC-PUBLIC-2"))
        data["form_token"] = token_of(client.get(f"/recalls/{other}").get_data(as_text=True))
        clock.advance(seconds=10)
    else:
        del data["form_token"]

    answer = client.post(f"/recalls/{public_id}", data=data)

    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and expected in page
    assert 'value="Grace Hopper"' in page and 'value="grace@example.com"' in page  # the input is kept
    assert registrations(engine, run) == 0


def test_wrong_fields_are_marked_and_nothing_is_stored(public):
    engine, client, run, public_id, fresh_form = public
    data = {**BUYER, "name": "", "email": "grace-at-example", "quantity": "0", "remedy": "cash",
            "lot": "L" * 101, "form_token": fresh_form()}

    answer = client.post(f"/recalls/{public_id}", data=data)

    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "Please correct the marked fields." in page
    for field, message in (("name", "Please fill in this field."), ("email", "Enter a valid e-mail address."),
                           ("quantity", "Enter a whole number from 1 to 100000."),
                           ("remedy", "Choose one of the remedies."), ("lot", "This is too long.")):
        assert f'<p class="error" id="{field}-error">{message}</p>' in page
    assert 'value="grace-at-example"' in page and "Bought at the market</textarea>" in page
    assert registrations(engine, run) == 0

    no_contact = client.post(f"/recalls/{public_id}", data={**BUYER, "email": "", "phone": "",
                                                            "form_token": fresh_form()})
    assert no_contact.status_code == 422
    assert "Enter an e-mail address or a phone number" in no_contact.get_data(as_text=True)
    assert registrations(engine, run) == 0


def test_posts_from_one_address_are_limited(public):
    engine, client, run, public_id, fresh_form = public
    token = fresh_form()
    for _ in range(10):
        assert client.post(f"/recalls/{public_id}", data={**BUYER, "website": "x", "form_token": token}
                           ).status_code == 400

    answer = client.post(f"/recalls/{public_id}", data={**BUYER, "form_token": token})

    assert answer.status_code == 429 and "Too many registrations were sent from your network" in answer.get_data(
        as_text=True)
    assert int(answer.headers["Retry-After"]) > 0
    assert registrations(engine, run) == 0


def test_the_page_speaks_chinese_when_asked(public):
    engine, client, run, public_id, fresh_form = public

    by_parameter = client.get(f"/recalls/{public_id}?lang=zh").get_data(as_text=True)
    by_browser = client.get(f"/recalls/{public_id}", headers={"Accept-Language": "zh-CN,zh;q=0.9"}
                            ).get_data(as_text=True)
    english = client.get(f"/recalls/{public_id}", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)

    assert '<html lang="zh-Hans">' in by_parameter and '<html lang="zh-Hans">' in by_browser
    assert "产品安全召回" in by_parameter and "产品安全召回" in by_browser and "产品安全召回" not in english
    assert '<html lang="en">' in english
    assert 'name="lang" value="zh"' in by_parameter  # the answer keeps the language
    assert 'lang="zh-Hans"\n     aria-current="true">中文</a>' in by_parameter
    answer = client.post(f"/recalls/{public_id}", data={**BUYER, "form_token": fresh_form(), "lang": "zh"})
    assert answer.status_code == 200 and '<html lang="zh-Hans">' in answer.get_data(as_text=True)
    with engine.db.reading() as session:
        from integrations.recall_registrations import latest_for
        assert [r.language for r in latest_for(session, run.id)] == ["zh"]


def test_the_qr_code_opens_the_page(public):
    engine, client, run, public_id, _ = public
    url = engine.integration_settings.notify.ack_base_url + f"/recalls/{public_id}"
    expected = io.BytesIO()
    segno.make(url, error="m").save(expected, kind="png", scale=10, border=4)

    png = client.get(f"/recalls/{public_id}/qr.png")
    svg = client.get(f"/recalls/{public_id}/qr.svg?download=1")

    assert png.status_code == 200 and png.mimetype == "image/png" and png.data == expected.getvalue()
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data and b"<script" not in svg.data
    assert svg.headers["Content-Disposition"] == f'attachment; filename="recall-{public_id}.svg"'


def test_staff_find_the_link_and_the_registrations_on_the_case(site, clock):
    engine, app = site
    run = notified(engine)
    pending = decided(engine, "RC-PENDING")
    staff = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', staff.get("/login").get_data(as_text=True)).group(1)
    staff.post("/login", data={"email": "qa@demo.loopline", "password": DEMO_PASSWORD, "csrf_token": token})

    answer = staff.get(f"/recalls/case/{run.id}")

    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, page[:400]
    public_id = re.search(r"/recalls/([A-Za-z0-9_-]{16,32})/qr\.svg", page).group(1)
    assert f"{engine.integration_settings.notify.ack_base_url}/recalls/{public_id}" in page
    assert "0 registration(s), 0 unit(s) reported." in page
    anyone = app.test_client()
    form = token_of(anyone.get(f"/recalls/{public_id}").get_data(as_text=True))
    clock.advance(seconds=10)
    anyone.post(f"/recalls/{public_id}", data={**BUYER, "form_token": form})
    again = staff.get(f"/recalls/case/{run.id}").get_data(as_text=True)
    assert "1 registration(s), 2 unit(s) reported." in again and "grace@example.com" in again
    assert f"/recalls/{public_id}/" in again  # the same public id every time

    waiting = staff.get(f"/recalls/case/{pending.id}").get_data(as_text=True)
    assert "The public page opens when the recall strategy is approved" in waiting
    assert app.test_client().get(f"/recalls/case/{run.id}").status_code == 302  # sign in first
