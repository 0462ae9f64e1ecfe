"""API keys: `ll_<prefix>_<secret>`; the prefix finds the row, a SHA-256 of the secret proves it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.authorization import KNOWN_ROLES
from orchestrator.errors import Conflict, InvalidInput, NotFound
from web.auth.models import ApiKey

TOKEN_PREFIX = "ll"
USE_RECORD_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    """Returned once at creation: the only time the full token is ever shown."""

    key: ApiKey
    token: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_api_key(session: Session, name: str, role: str, *, created_by: str, now: datetime,
                   groups: list[str] | None = None, expires_at: datetime | None = None) -> IssuedKey:
    errors = {}
    if not name or len(name) > 100:
        errors["name"] = "is required (at most 100 characters)"
    if role not in KNOWN_ROLES:
        errors["role"] = f"must be one of {', '.join(KNOWN_ROLES)}"
    if expires_at is not None and expires_at <= now:
        errors["expiresAt"] = "must be in the future"
    if errors:
        raise InvalidInput("invalid API key", errors)
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise Conflict(f"an API key named '{name}' already exists")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=prefix, secret_hash=_digest(secret), role=role, groups=sorted(groups or []),
                 created_by=created_by, created_at=now, expires_at=expires_at)
    session.add(key)
    session.flush()
    return IssuedKey(key, f"{TOKEN_PREFIX}_{prefix}_{secret}")


def revoke_api_key(session: Session, key_id: int, now: datetime) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist")
    if key.revoked_at is None:
        key.revoked_at = now
    return key


def actor_for_token(session: Session, token: str, now: datetime) -> Actor | None:
    """The Actor an API key stands for, or None if it is unknown, revoked, expired or forged."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or not hmac.compare_digest(key.secret_hash, _digest(parts[2])):
        return None
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if key.last_used_at is None or now - key.last_used_at > USE_RECORD_INTERVAL:
        key.last_used_at = now
        session.commit()
    return Actor(f"apikey:{key.name}", groups=frozenset(key.groups or []), roles=frozenset({key.role}))
