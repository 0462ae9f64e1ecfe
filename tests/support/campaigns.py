"""Campaigns for reliability tests and benchmarks: worker settings against a loopback provider, recipients."""

from __future__ import annotations

from tests.integrations.conftest import SENDGRID_KEY, TWILIO_SID, TWILIO_TOKEN


def provider_env(provider_url: str) -> dict[str, str]:
    """A worker's settings for sending through the real Twilio and SendGrid SDKs to `provider_url`."""
    return {"LOOPLINE_NOTIFY_BACKEND": "providers", "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_FROM": "+15550001000", "LOOPLINE_TWILIO_BASE_URL": provider_url,
            "SENDGRID_API_KEY": SENDGRID_KEY, "SENDGRID_FROM": "recalls@loopline.test",
            "LOOPLINE_SENDGRID_HOST": provider_url}


def people(count: int, prefix: str = "C") -> list[dict]:
    """Half by e-mail, half by SMS: one message per recipient, so 'once per recipient' is 'once per message'."""
    return [{"id": f"{prefix}{i:05d}", "name": f"Customer {i}",
             **({"email": f"{prefix.lower()}{i:05d}@example.com"} if i % 2 else {"phone": f"+1555{i:07d}"})}
            for i in range(count)]


def addresses(recipients: list[dict]) -> set[str]:
    return {p.get("email") or p["phone"] for p in recipients}
