"""Fixtures of the integrations ring: a loopback provider server, notify settings, engines and the web app."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from integrations.config import IntegrationSettings, NotifySettings
from integrations.db import IntegrationsBase
from orchestrator.service import Engine
from tests.conftest import deploy_fixture
from web.app import create_app
from web.extensions import db

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-for-tests"
SENDGRID_KEY = "SG.key-for-tests"
ACK_SECRET = "ack-secret-for-tests"
PUBLIC_URL = "http://loopline.test"


@dataclass(frozen=True)
class SendGridSigner:
    """Signs Event Webhook bodies as SendGrid does: ECDSA P-256 / SHA-256 over timestamp + raw body."""

    private_key: ec.EllipticCurvePrivateKey
    public_key: str  # base64 DER, as SendGrid's settings page shows it

    def sign(self, body: bytes, timestamp: str) -> str:
        signature = self.private_key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()

    def headers(self, body: bytes, timestamp: str) -> dict[str, str]:
        return {"X-Twilio-Email-Event-Webhook-Signature": self.sign(body, timestamp),
                "X-Twilio-Email-Event-Webhook-Timestamp": timestamp, "Content-Type": "application/json"}


@pytest.fixture(scope="session")
def sendgrid_signer() -> SendGridSigner:
    private_key = ec.generate_private_key(ec.SECP256R1())
    der = private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return SendGridSigner(private_key, base64.b64encode(der).decode())


def twilio_signature(url: str, form: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


@pytest.fixture
def notify_settings(provider_server, sendgrid_signer) -> Callable[..., NotifySettings]:
    """NotifySettings for the providers backend, pointed at the loopback server."""

    def build(**overrides) -> NotifySettings:
        values = dict(
            backend="providers", twilio_account_sid=TWILIO_SID, twilio_auth_token=TWILIO_TOKEN,
            twilio_from="+15550001000", twilio_base_url=provider_server.url, sendgrid_api_key=SENDGRID_KEY,
            sendgrid_from="recalls@loopline.test", sendgrid_host=provider_server.url,
            sendgrid_webhook_public_key=sendgrid_signer.public_key, ack_secret=ACK_SECRET,
            ack_base_url=PUBLIC_URL, timeout=2.0, lookup_delay=1.0,
        )
        values.update(overrides)
        return NotifySettings(**values)

    return build


@pytest.fixture
def notify_engine(make_engine, database, notify_settings) -> Callable[..., Engine]:
    """An engine with notify settings (providers backend by default), the notify tables and fixtures."""

    def build(**overrides) -> Engine:
        engine_overrides = overrides.pop("engine", {})
        engine = make_engine(database, integration_settings=IntegrationSettings(notify=notify_settings(**overrides)),
                             **engine_overrides)
        IntegrationsBase.metadata.create_all(engine.db.engine)
        deploy_fixture(engine, "notify_customer.bpmn", "recall_campaign.bpmn")
        return engine

    return build


@pytest.fixture
def web_app() -> Callable[[Engine], object]:
    """The Flask app around a given engine; each request gets its own app context, as in production."""
    apps = []

    def build(engine: Engine):
        application = create_app(engine.settings, engine)
        application.config["TESTING"] = True
        apps.append(application)
        return application

    yield build
    for application in apps:
        with application.app_context():
            db.engine.dispose()
