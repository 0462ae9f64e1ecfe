"""Every Loopline setting in one place: its environment variable, its default, its checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting is missing or contradicts another one."""


@dataclass(frozen=True)
class RetryPolicy:
    """How a job of one topic is retried after a transient failure."""

    max_attempts: int = 5
    backoff_base: float = 2.0
    backoff_max: float = 300.0
    timeout: float = 60.0


@dataclass(frozen=True)
class Settings:
    # where data lives
    home: Path = Path("instance")
    database_url: str = ""
    # the broker only wakes workers; empty means the embedded in-process worker
    broker_url: str = ""
    bpmn_dir: Path = REPO_ROOT / "bpmn"
    deploy_on_start: bool = True
    # extra modules whose `register(registry)` adds connectors (site-specific integrations, test doubles)
    connector_modules: tuple[str, ...] = ()
    environment: str = "development"
    secret_key: str = ""
    # signs each case's history head and the audit checkpoints; outside production derived from the secret key
    audit_key: str = field(default="", repr=False)
    # failed sign-ins allowed per e-mail address, and per client address over all accounts ("" = off)
    login_rate_limit: str = "5 per minute;20 per hour"
    login_address_rate_limit: str = "30 per minute;300 per hour"
    # single sign-on (OpenID Connect); off unless an issuer is set
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_groups_claim: str = "groups"
    oidc_group_map: dict[str, str] = field(default_factory=dict)
    # engine
    script_time_limit: float = 1.0
    # scripts run in sandbox processes: how many at once, and the memory each script may use
    script_processes: int = 2
    script_memory_mb: int = 256
    max_model_bytes: int = 5 * 1024 * 1024
    # jobs
    default_retry: RetryPolicy = field(default_factory=RetryPolicy)
    topic_retry: dict[str, RetryPolicy] = field(default_factory=dict)
    job_lease_seconds: float = 300.0
    relay_interval: float = 5.0
    relay_stale_after: float = 30.0
    # topics served by outside Camunda external-task clients (/engine-rest), never by Loopline's workers
    external_topics: frozenset[str] = frozenset()
    # recall signal: N cases (returns, complaints, repairs) with one fault code on one lot, or M on one product
    # model, within a window start one recall evaluation; after it, `rearm_after` cases it did not see start
    # the next one for the same lot or model and fault (a "no recall" is not forever)
    recall_signal_threshold: int = 3
    recall_signal_model_threshold: int = 5
    recall_signal_rearm_after: int = 3
    recall_signal_window_days: int = 30
    recall_signal_interval: float = 300.0
    # the product model (SKU family) of a SKU when a case does not name it: the regex's first group
    recall_signal_model_pattern: str = r"^(.+?)(?:-[^-]+)?$"
    # the sweep loop signs a checkpoint of every case's history head this often when any changed (0 = never)
    audit_checkpoint_interval: float = 3600.0
    # files uploaded through form fields
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf",
                                         "text/plain", "text/csv")
    # timers
    timer_sweep_interval: float = 1.0
    timer_batch_size: int = 200
    # due instances fired per transaction, and the threads that claim such batches at once on PostgreSQL while
    # more are due (SQLite has one writer: one thread). Engine work holds the GIL: past 2 threads nothing gained
    timer_fires_per_transaction: int = 20
    timer_sweep_threads: int = 2
    # processes firing instance timers in `loopline beat` on PostgreSQL (1: the loop alone); each one more
    # adds a core's worth of engine work. Helpers use the system clock and an engine built from these settings
    timer_sweep_processes: int = 1

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Read the settings from the environment (LOOPLINE_* plus the usual DATABASE_URL etc.)."""
        env = os.environ if environ is None else environ
        home = Path(env.get("LOOPLINE_HOME", "instance")).resolve()
        values = dict(
            home=home,
            database_url=env.get("DATABASE_URL") or env.get("LOOPLINE_DATABASE_URL") or "",
            broker_url=env.get("CELERY_BROKER_URL", ""),
            bpmn_dir=Path(env.get("LOOPLINE_BPMN_DIR", str(REPO_ROOT / "bpmn"))),
            deploy_on_start=env.get("LOOPLINE_DEPLOY_ON_START", "1") not in ("0", "false", "no"),
            connector_modules=tuple(m.strip() for m in env.get("LOOPLINE_CONNECTORS", "").split(",") if m.strip()),
            environment=env.get("LOOPLINE_ENV", "development"),
            secret_key=env.get("LOOPLINE_SECRET_KEY", ""),
            audit_key=env.get("LOOPLINE_AUDIT_KEY", ""),
            login_rate_limit=env.get("LOOPLINE_LOGIN_RATE_LIMIT", cls.login_rate_limit),
            login_address_rate_limit=env.get("LOOPLINE_LOGIN_ADDRESS_RATE_LIMIT", cls.login_address_rate_limit),
            oidc_issuer=env.get("LOOPLINE_OIDC_ISSUER", "").rstrip("/"),
            oidc_client_id=env.get("LOOPLINE_OIDC_CLIENT_ID", ""),
            oidc_client_secret=env.get("LOOPLINE_OIDC_CLIENT_SECRET", ""),
            oidc_groups_claim=env.get("LOOPLINE_OIDC_GROUPS_CLAIM", "groups"),
            oidc_group_map=json.loads(env.get("LOOPLINE_OIDC_GROUP_MAP", "{}")),
            script_time_limit=float(env.get("LOOPLINE_SCRIPT_TIME_LIMIT", "1.0")),
            script_processes=int(env.get("LOOPLINE_SCRIPT_PROCESSES", "2")),
            script_memory_mb=int(env.get("LOOPLINE_SCRIPT_MEMORY_MB", "256")),
            max_model_bytes=int(env.get("LOOPLINE_MAX_MODEL_BYTES", str(5 * 1024 * 1024))),
            default_retry=_retry_policy(json.loads(env.get("LOOPLINE_JOB_RETRY", "{}"))),
            topic_retry={
                topic: _retry_policy(spec)
                for topic, spec in json.loads(env.get("LOOPLINE_TOPIC_RETRY", "{}")).items()
            },
            job_lease_seconds=float(env.get("LOOPLINE_JOB_LEASE_SECONDS", "300")),
            relay_interval=float(env.get("LOOPLINE_RELAY_INTERVAL", "5")),
            relay_stale_after=float(env.get("LOOPLINE_RELAY_STALE_AFTER", "30")),
            external_topics=frozenset(
                t.strip() for t in env.get("LOOPLINE_EXTERNAL_TOPICS", "").split(",") if t.strip()),
            timer_sweep_interval=float(env.get("LOOPLINE_TIMER_INTERVAL", "1.0")),
            timer_fires_per_transaction=int(env.get("LOOPLINE_TIMER_FIRES_PER_TRANSACTION", "20")),
            timer_sweep_threads=int(env.get("LOOPLINE_TIMER_THREADS", "2")),
            timer_sweep_processes=int(env.get("LOOPLINE_TIMER_PROCESSES", "1")),
            attachment_max_bytes=int(env.get("LOOPLINE_ATTACHMENT_MAX_BYTES", str(10 * 1024 * 1024))),
            attachment_types=tuple(
                t.strip() for t in env.get("LOOPLINE_ATTACHMENT_TYPES", ",".join(cls.attachment_types)).split(",")
                if t.strip()),
            recall_signal_threshold=int(env.get("LOOPLINE_RECALL_SIGNAL_THRESHOLD", "3")),
            recall_signal_model_threshold=int(env.get("LOOPLINE_RECALL_SIGNAL_MODEL_THRESHOLD", "5")),
            recall_signal_rearm_after=int(env.get("LOOPLINE_RECALL_SIGNAL_REARM_AFTER", "3")),
            recall_signal_model_pattern=env.get("LOOPLINE_RECALL_SIGNAL_MODEL_PATTERN", cls.recall_signal_model_pattern),
            recall_signal_window_days=int(env.get("LOOPLINE_RECALL_SIGNAL_WINDOW_DAYS", "30")),
            recall_signal_interval=float(env.get("LOOPLINE_RECALL_SIGNAL_INTERVAL", "300")),
            audit_checkpoint_interval=float(env.get("LOOPLINE_AUDIT_CHECKPOINT_INTERVAL", "3600")),
        )
        values.update(overrides)
        settings = cls(**values)
        if not settings.database_url:
            settings = replace(settings, database_url=f"sqlite:///{settings.home / 'loopline.db'}")
        settings.validate()
        return settings

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: worker and timers run inside the serving process."""
        return not self.broker_url

    @cached_property
    def audit_signing_key(self) -> bytes:
        """The HMAC key of history heads and checkpoints. Without LOOPLINE_AUDIT_KEY (not allowed in production)
        it is derived from the secret key, or from a well-known word: a development database then shows
        accidents, not forgery."""
        if self.audit_key:
            return self.audit_key.encode("utf-8")
        return hmac.new((self.secret_key or "loopline-development").encode("utf-8"), b"loopline audit key",
                        hashlib.sha256).digest()

    def retry_policy(self, topic: str) -> RetryPolicy:
        return self.topic_retry.get(topic, self.default_retry)

    def validate(self) -> None:
        """Fail at start-up, not at the first request, when settings cannot work together."""
        if self.environment not in ("development", "production", "test"):
            raise SettingsError(f"LOOPLINE_ENV must be development, production or test, not {self.environment!r}")
        if self.environment == "production":
            if not self.secret_key:
                raise SettingsError("LOOPLINE_SECRET_KEY is required when LOOPLINE_ENV=production")
            if not self.audit_key:
                raise SettingsError("LOOPLINE_AUDIT_KEY is required when LOOPLINE_ENV=production")
            if self.database_url.startswith("sqlite"):
                raise SettingsError("production needs a server database: set DATABASE_URL to PostgreSQL")
        if self.oidc_issuer and not self.oidc_client_id:
            raise SettingsError("LOOPLINE_OIDC_CLIENT_ID is required when LOOPLINE_OIDC_ISSUER is set")
        if self.script_time_limit <= 0:
            raise SettingsError("LOOPLINE_SCRIPT_TIME_LIMIT must be positive")
        if self.script_processes < 1:
            raise SettingsError("LOOPLINE_SCRIPT_PROCESSES must be at least 1")
        if self.script_memory_mb < 16:
            raise SettingsError("LOOPLINE_SCRIPT_MEMORY_MB must be at least 16")
        if self.timer_fires_per_transaction < 1:
            raise SettingsError("LOOPLINE_TIMER_FIRES_PER_TRANSACTION must be at least 1")
        if self.timer_sweep_threads < 1:
            raise SettingsError("LOOPLINE_TIMER_THREADS must be at least 1")
        if self.timer_sweep_processes < 1:
            raise SettingsError("LOOPLINE_TIMER_PROCESSES must be at least 1")
        self._validate_recall_signal()
        for topic in self.external_topics:
            if len(topic) > 200:
                raise SettingsError(f"LOOPLINE_EXTERNAL_TOPICS: topic {topic[:40]!r}… is longer than 200 characters")
        for topic, policy in {"default": self.default_retry, **self.topic_retry}.items():
            if policy.max_attempts < 1:
                raise SettingsError(f"retry policy for {topic}: max_attempts must be at least 1")

    def _validate_recall_signal(self) -> None:
        for name, value in (("THRESHOLD", self.recall_signal_threshold),
                            ("MODEL_THRESHOLD", self.recall_signal_model_threshold),
                            ("REARM_AFTER", self.recall_signal_rearm_after),
                            ("WINDOW_DAYS", self.recall_signal_window_days)):
            if value < 1:
                raise SettingsError(f"LOOPLINE_RECALL_SIGNAL_{name} must be at least 1")
        try:
            groups = re.compile(self.recall_signal_model_pattern).groups
        except re.error as exc:
            raise SettingsError(f"LOOPLINE_RECALL_SIGNAL_MODEL_PATTERN is no regular expression: {exc}") from exc
        if groups < 1:
            raise SettingsError("LOOPLINE_RECALL_SIGNAL_MODEL_PATTERN needs a group: (…) marks the model in the SKU")


def _retry_policy(spec: dict) -> RetryPolicy:
    known = set(RetryPolicy.__dataclass_fields__)
    unknown = set(spec) - known
    if unknown:
        raise SettingsError(f"unknown retry setting(s) {sorted(unknown)}; known: {sorted(known)}")
    return RetryPolicy(**spec)
