"""Delivery webhooks: signed requests are applied once; anything unproven gets 403 and changes nothing."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.integrations.conftest import PUBLIC_URL, twilio_signature
from tests.integrations.helpers import delivery_events, notifications, start
from tests.support.inspect import run_pending_jobs

TWILIO_URL = "http://localhost/webhooks/twilio/status"
EVENTS_URL = "/webhooks/sendgrid/events"


@pytest.fixture
def sent(notify_engine, web_app):
    """One SMS and one e-mail sent through the providers, and a client of the web app."""
    engine = notify_engine()
    start(engine, "notify_customer", "RMA-1", channel="sms", to="+15551230001", name="Ann",
          template="return_received", variables={"rmaNumber": "RMA-1"})
    start(engine, "notify_customer", "RMA-2", channel="email", to="bob@example.com", name="Bob",
          template="return_received", variables={"rmaNumber": "RMA-2"})
    assert run_pending_jobs(engine) == ["completed", "completed"]
    sms = notifications(engine, channel="sms")[0]
    email = notifications(engine, channel="email")[0]
    return engine, web_app(engine).test_client(), sms, email


def snapshot(engine) -> tuple:
    rows = [(n.status, n.sent_at, n.delivered_at, n.failed_at, n.opened_at, n.clicked_at, n.error_code)
            for n in notifications(engine)]
    return rows, len(delivery_events(engine))


def post_twilio(client, form: dict[str, str], signature: str | None = None, url: str = TWILIO_URL):
    headers = {"X-Twilio-Signature": signature or twilio_signature(url, form)}
    return client.post("/webhooks/twilio/status", data=form, headers=headers)


def twilio_form(sms, status: str, **extra) -> dict[str, str]:
    return {"MessageSid": sms.provider_message_id, "MessageStatus": status, "AccountSid": "AC1",
            "To": sms.address, "From": "+15550001000", **extra}


def sendgrid_batch(email, *kinds: str, at: int, **extra) -> bytes:
    events = [{"email": email.address, "timestamp": at + i, "event": kind, "sg_event_id": f"ev-{kind}-{i}",
               "sg_message_id": f"{email.provider_message_id}.filterdrecv-1", "loopline_notification": email.id,
               **extra} for i, kind in enumerate(kinds)]
    return json.dumps(events).encode()


def post_sendgrid(client, signer, body: bytes, timestamp: int, headers: dict | None = None):
    return client.post(EVENTS_URL, data=body, headers=headers or signer.headers(body, str(timestamp)))


def now_ts(engine) -> int:
    return int(engine.now().timestamp())


# --- Twilio -----------------------------------------------------------------------------------------

def test_a_signed_twilio_status_callback_moves_the_sms_forward(sent):
    engine, client, sms, _ = sent

    assert post_twilio(client, twilio_form(sms, "sent")).status_code == 204
    assert post_twilio(client, twilio_form(sms, "delivered")).status_code == 204

    row = notifications(engine, channel="sms")[0]
    assert row.status == "delivered" and row.delivered_at == engine.now()
    events = delivery_events(engine)
    assert [(e.provider, e.type, e.notification_id) for e in events] == [("twilio", "sent", sms.id),
                                                                        ("twilio", "delivered", sms.id)]
    assert events[1].provider_event_id == f"{sms.provider_message_id}:delivered"
    assert "AccountSid" not in events[1].payload


def test_a_replayed_twilio_callback_changes_nothing(sent, clock):
    engine, client, sms, _ = sent
    post_twilio(client, twilio_form(sms, "delivered"))
    before = snapshot(engine)

    clock.advance(minutes=5)
    assert post_twilio(client, twilio_form(sms, "delivered")).status_code == 204

    assert snapshot(engine) == before


@pytest.mark.parametrize("case", ["wrong signature", "tampered form", "no signature", "signed for another url"])
def test_an_unproven_twilio_callback_is_refused_and_changes_nothing(sent, case):
    engine, client, sms, _ = sent
    form = twilio_form(sms, "failed", ErrorCode="30003")
    signature = {
        "wrong signature": twilio_signature(TWILIO_URL, form, token="not-the-token"),
        "tampered form": twilio_signature(TWILIO_URL, twilio_form(sms, "delivered")),
        "no signature": "",
        "signed for another url": twilio_signature("https://evil.example/webhooks/twilio/status", form),
    }[case]
    before = snapshot(engine)

    response = client.post("/webhooks/twilio/status", data=form, headers={"X-Twilio-Signature": signature})

    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert snapshot(engine) == before


def test_a_twilio_callback_signed_for_the_public_url_is_accepted_behind_a_proxy(sent):
    engine, client, sms, _ = sent
    form = twilio_form(sms, "undelivered", ErrorCode="30003", ErrorMessage="Unreachable destination handset")

    response = post_twilio(client, form, signature=twilio_signature(f"{PUBLIC_URL}/webhooks/twilio/status", form))

    assert response.status_code == 204
    row = notifications(engine, channel="sms")[0]
    assert (row.status, row.error_code, row.error) == ("failed", "TWILIO_30003", "Unreachable destination handset")


def test_twilio_statuses_out_of_order_never_move_a_message_back(sent):
    engine, client, sms, _ = sent
    post_twilio(client, twilio_form(sms, "delivered"))
    post_twilio(client, twilio_form(sms, "sent"))
    post_twilio(client, twilio_form(sms, "failed"))

    row = notifications(engine, channel="sms")[0]
    assert row.status == "delivered" and row.failed_at is None
    assert len(delivery_events(engine)) == 3  # all kept as received


def test_a_callback_for_an_unknown_message_is_acknowledged_and_kept_unmatched(sent):
    engine, client, sms, _ = sent
    form = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}

    assert post_twilio(client, form).status_code == 204

    (event,) = delivery_events(engine)
    assert event.notification_id is None
    assert notifications(engine, channel="sms")[0].status == "sent"


# --- SendGrid ---------------------------------------------------------------------------------------

def test_a_signed_sendgrid_batch_records_delivery_open_and_click(sent, sendgrid_signer):
    engine, client, _, email = sent
    at = now_ts(engine) - 30
    body = sendgrid_batch(email, "processed", "delivered", "open", "click", at=at)

    response = post_sendgrid(client, sendgrid_signer, body, now_ts(engine))

    assert response.status_code == 200
    # "processed" only confirms what the send already recorded
    assert response.json == {"received": 4, "applied": 3, "duplicates": 0, "unmatched": 0}
    row = notifications(engine, channel="email")[0]
    assert row.status == "delivered"
    assert [int(t.timestamp()) for t in (row.delivered_at, row.opened_at, row.clicked_at)] == [at + 1, at + 2, at + 3]
    assert [e.type for e in delivery_events(engine)] == ["sent", "delivered", "opened", "clicked"]


def test_a_replayed_sendgrid_batch_does_not_count_twice(sent, sendgrid_signer, clock):
    engine, client, _, email = sent
    body = sendgrid_batch(email, "delivered", "open", at=now_ts(engine))
    post_sendgrid(client, sendgrid_signer, body, now_ts(engine))
    before = snapshot(engine)

    clock.advance(seconds=60)
    response = post_sendgrid(client, sendgrid_signer, body, now_ts(engine))  # freshly signed, same events

    assert response.json == {"received": 2, "applied": 0, "duplicates": 2, "unmatched": 0}
    assert snapshot(engine) == before


def test_sendgrid_bounce_marks_the_message_bounced(sent, sendgrid_signer):
    engine, client, _, email = sent
    body = sendgrid_batch(email, "bounce", at=now_ts(engine), reason="550 5.1.1 The email account does not exist")

    post_sendgrid(client, sendgrid_signer, body, now_ts(engine))

    row = notifications(engine, channel="email")[0]
    assert (row.status, row.error_code) == ("bounced", "SENDGRID_BOUNCE")
    assert "does not exist" in row.error


def test_sendgrid_events_without_the_custom_arg_match_by_message_id(sent, sendgrid_signer):
    engine, client, _, email = sent
    events = [{"email": email.address, "timestamp": now_ts(engine), "event": "delivered", "sg_event_id": "ev-x",
               "sg_message_id": f"{email.provider_message_id}.filterdrecv-p3mdgm1-7"}]
    body = json.dumps(events).encode()

    assert post_sendgrid(client, sendgrid_signer, body, now_ts(engine)).json["applied"] == 1
    assert notifications(engine, channel="email")[0].status == "delivered"


def test_a_clicked_ack_link_is_stored_without_its_token(sent, sendgrid_signer):
    engine, client, _, email = sent
    body = sendgrid_batch(email, "click", at=now_ts(engine), url=f"{PUBLIC_URL}/ack/eyJuIjoiYSJ9.Zx1.secret-sig")

    post_sendgrid(client, sendgrid_signer, body, now_ts(engine))

    (event,) = delivery_events(engine)
    assert event.payload["url"] == f"{PUBLIC_URL}/ack/[token]"


def _other_key_signature(body: bytes, timestamp: str) -> str:
    other = ec.generate_private_key(ec.SECP256R1())
    return base64.b64encode(other.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()


@pytest.mark.parametrize("case", ["tampered body", "wrong signature", "stale timestamp", "future timestamp",
                                  "garbage signature", "no headers", "timestamp swapped"])
def test_an_unproven_sendgrid_batch_is_refused_and_changes_nothing(sent, sendgrid_signer, case):
    engine, client, _, email = sent
    now = now_ts(engine)
    max_age = engine.integration_settings.notify.webhook_max_age_seconds
    body = sendgrid_batch(email, "delivered", "open", at=now)
    timestamp = str(now)
    headers = sendgrid_signer.headers(body, timestamp)
    if case == "tampered body":
        body = body.replace(b'"open"', b'"click"')
    elif case == "wrong signature":
        headers["X-Twilio-Email-Event-Webhook-Signature"] = _other_key_signature(body, timestamp)
    elif case == "stale timestamp":
        headers = sendgrid_signer.headers(body, str(now - max_age - 1))  # correctly signed, but too old
    elif case == "future timestamp":
        headers = sendgrid_signer.headers(body, str(now + 3600))
    elif case == "garbage signature":
        headers["X-Twilio-Email-Event-Webhook-Signature"] = "not base64 at all!"
    elif case == "no headers":
        headers = {"Content-Type": "application/json"}
    elif case == "timestamp swapped":
        headers["X-Twilio-Email-Event-Webhook-Timestamp"] = str(now - 1)
    before = snapshot(engine)

    response = client.post(EVENTS_URL, data=body, headers=headers)

    assert response.status_code == 403
    assert snapshot(engine) == before


def test_a_signed_body_that_is_not_an_event_batch_is_a_bad_request(sent, sendgrid_signer):
    engine, client, _, _ = sent
    body = b'{"event": "delivered"}'

    assert post_sendgrid(client, sendgrid_signer, body, now_ts(engine)).status_code == 400
    assert delivery_events(engine) == []


def test_webhooks_need_no_login(sent, sendgrid_signer):
    engine, client, sms, email = sent
    body = sendgrid_batch(email, "delivered", at=now_ts(engine))

    assert post_sendgrid(client, sendgrid_signer, body, now_ts(engine)).status_code == 200
    assert post_twilio(client, twilio_form(sms, "delivered")).status_code == 204
