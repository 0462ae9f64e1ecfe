"""Settings of the connectors, read from the environment. Secrets live here, never in BPMN or history."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ACK_SECRET_FILE = "ack_secret"


@dataclass(frozen=True)
class SystemSettings:
    """How to reach one business system (ERP, QMS, CRM)."""

    backend: str = "local"  # local | http
    base_url: str = ""
    auth: str = "none"  # none | api_key | hmac | oauth2
    api_key: str = field(default="", repr=False)
    hmac_secret: str = field(default="", repr=False)
    oauth_token_url: str = ""
    oauth_client_id: str = ""
    oauth_client_secret: str = field(default="", repr=False)
    timeout: float = 10.0


@dataclass(frozen=True)
class NotifySettings:
    backend: str = "outbox"  # outbox | providers
    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    twilio_from: str = ""
    twilio_base_url: str = ""  # override for tests against a local server
    sendgrid_api_key: str = field(default="", repr=False)
    sendgrid_from: str = "noreply@loopline.invalid"
    sendgrid_host: str = ""  # override for tests against a local server
    sendgrid_webhook_public_key: str = ""
    webhook_max_age_seconds: int = 600
    ack_secret: str = field(default="", repr=False)
    ack_base_url: str = "http://127.0.0.1:8080"
    ack_ttl_days: int = 30
    timeout: float = 10.0
    # messages a campaign job sends at once (each on its own connection to the provider)
    concurrency: int = 8
    # how long after a send whose answer was lost the provider is asked whether it took the message: its
    # lists (Twilio's messages, SendGrid's e-mail activity) show a message only some time after it was taken
    lookup_delay: float = 120.0
    # a campaign job's timeout, so its lease: a worker that falls silent (its heartbeat stops) hands the campaign
    # on to another after this long
    campaign_timeout: float = 900.0


@dataclass(frozen=True)
class IntegrationSettings:
    erp: SystemSettings = field(default_factory=SystemSettings)
    qms: SystemSettings = field(default_factory=SystemSettings)
    crm: SystemSettings = field(default_factory=SystemSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    breaker_threshold: int = 5
    breaker_cooldown_seconds: float = 30.0
    http_secrets: dict[str, str] = field(default_factory=dict, repr=False)  # for http.request {secret:NAME}
    http_allowed_hosts: tuple[str, ...] = ()  # http.request may call only these hosts (host or host:port)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, home: Path | None = None) -> IntegrationSettings:
        """Read the connectors' settings. Without LOOPLINE_ACK_SECRET or LOOPLINE_SECRET_KEY, outside production,
        acknowledgement links are signed with a secret kept in the instance folder: `home`, else (reading the
        process environment) LOOPLINE_HOME as the other settings read it."""
        env = os.environ if environ is None else environ
        if home is None and (environ is None or "LOOPLINE_HOME" in env):
            home = Path(env.get("LOOPLINE_HOME", "instance")).resolve()

        def system(prefix: str) -> SystemSettings:
            return SystemSettings(
                backend=env.get(f"LOOPLINE_{prefix}_BACKEND", "local"),
                base_url=env.get(f"LOOPLINE_{prefix}_URL", "").rstrip("/"),
                auth=env.get(f"LOOPLINE_{prefix}_AUTH", "none"),
                api_key=env.get(f"LOOPLINE_{prefix}_API_KEY", ""),
                hmac_secret=env.get(f"LOOPLINE_{prefix}_HMAC_SECRET", ""),
                oauth_token_url=env.get(f"LOOPLINE_{prefix}_OAUTH_TOKEN_URL", ""),
                oauth_client_id=env.get(f"LOOPLINE_{prefix}_OAUTH_CLIENT_ID", ""),
                oauth_client_secret=env.get(f"LOOPLINE_{prefix}_OAUTH_CLIENT_SECRET", ""),
                timeout=float(env.get(f"LOOPLINE_{prefix}_TIMEOUT", "10")),
            )

        return cls(
            erp=system("ERP"), qms=system("QMS"), crm=system("CRM"),
            notify=NotifySettings(
                backend=env.get("LOOPLINE_NOTIFY_BACKEND", "outbox"),
                twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
                twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
                twilio_from=env.get("TWILIO_FROM", ""),
                twilio_base_url=env.get("LOOPLINE_TWILIO_BASE_URL", ""),
                sendgrid_api_key=env.get("SENDGRID_API_KEY", ""),
                sendgrid_from=env.get("SENDGRID_FROM", "noreply@loopline.invalid"),
                sendgrid_host=env.get("LOOPLINE_SENDGRID_HOST", ""),
                sendgrid_webhook_public_key=env.get("SENDGRID_WEBHOOK_PUBLIC_KEY", ""),
                ack_secret=_ack_secret(env, home),
                ack_base_url=env.get("LOOPLINE_PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/"),
                timeout=float(env.get("LOOPLINE_NOTIFY_TIMEOUT", "10")),
                concurrency=max(1, int(env.get("LOOPLINE_NOTIFY_CONCURRENCY", "8"))),
                lookup_delay=float(env.get("LOOPLINE_NOTIFY_LOOKUP_DELAY", "120")),
                campaign_timeout=float(env.get("LOOPLINE_NOTIFY_CAMPAIGN_TIMEOUT", "900")),
            ),
            breaker_threshold=int(env.get("LOOPLINE_BREAKER_THRESHOLD", "5")),
            breaker_cooldown_seconds=float(env.get("LOOPLINE_BREAKER_COOLDOWN", "30")),
            http_allowed_hosts=tuple(h.strip() for h in env.get("LOOPLINE_HTTP_ALLOWED_HOSTS", "").split(",")
                                     if h.strip()),
            http_secrets={k.removeprefix("LOOPLINE_SECRET_"): v for k, v in env.items()
                          if k.startswith("LOOPLINE_SECRET_") and k != "LOOPLINE_SECRET_KEY"},
        )

    def validate(self) -> list[str]:
        """Problems that would make a connector fail on every call; reported at start-up."""
        problems = []
        for name, system in (("ERP", self.erp), ("QMS", self.qms), ("CRM", self.crm)):
            if system.backend not in ("local", "http"):
                problems.append(f"LOOPLINE_{name}_BACKEND must be local or http")
            if system.backend == "http" and not system.base_url:
                problems.append(f"LOOPLINE_{name}_URL is required with the http backend")
        if self.notify.backend == "providers" and not (self.notify.twilio_account_sid or self.notify.sendgrid_api_key):
            problems.append("the providers notify backend needs TWILIO_* and/or SENDGRID_API_KEY")
        return problems


def _ack_secret(env, home: Path | None) -> str:
    explicit = env.get("LOOPLINE_ACK_SECRET", "") or env.get("LOOPLINE_SECRET_KEY", "")
    if explicit or home is None or env.get("LOOPLINE_ENV") == "production":
        return explicit  # production refuses to start without LOOPLINE_SECRET_KEY (orchestrator/settings.py)
    return instance_ack_secret(home)


def instance_ack_secret(home: Path) -> str:
    """A secret made once per instance folder and kept there (owner-only), like the embedded default's secret
    key: acknowledgement links sent before a restart still open after it."""
    path = home / ACK_SECRET_FILE
    if not path.exists():
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        # written whole under a private name, then linked into place: a racing start reads a complete secret,
        # and the first link wins
        draft = home / f".{ACK_SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_hex(32))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
        finally:
            draft.unlink()
    return path.read_text(encoding="utf-8").strip()
