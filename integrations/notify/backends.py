"""Where messages go: the outbox (stored as sent, no network) or Twilio and SendGrid (``providers``).

The provider SDKs are imported only when the providers backend is chosen, so commands such as
``loopline db upgrade`` and the outbox default never load them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from integrations.config import NotifySettings
from integrations.registry import BusinessError, TransientError

NOTIFICATION_ARG = "loopline_notification"  # SendGrid custom arg: comes back at the top of each event
INVALID_RECIPIENT = "E_INVALID_RECIPIENT"


@dataclass(frozen=True)
class OutgoingMessage:
    notification_id: str
    channel: str  # sms | email
    address: str
    name: str
    subject: str | None
    text: str
    html: str | None


@dataclass(frozen=True)
class Receipt:
    """Who accepted the message and under which id its delivery events will come back."""

    provider: str
    message_id: str | None


class RecipientRejected(BusinessError):
    """The provider refused this message for this recipient (invalid number, unsubscribed, bad address)."""


class AnswerLost(TransientError):
    """The request reached the provider but its answer did not come back (a read timeout, a dropped
    connection): the provider may have taken the message, so it is asked before anything is sent again."""


class LookupUnavailable(Exception):
    """The provider could not be asked what became of a message (no such API on the account, an error)."""


class Backend(Protocol):
    def send(self, message: OutgoingMessage) -> Receipt: ...

    def lookup(self, message: OutgoingMessage, since: datetime) -> Receipt | None:
        """The provider's record of `message` sent at or after `since`, or None when it never took it."""


class OutboxBackend:
    """The embedded default: the stored notification is the message; nothing leaves the machine."""

    def send(self, message: OutgoingMessage) -> Receipt:
        return Receipt("outbox", f"outbox-{message.notification_id}")

    def lookup(self, message: OutgoingMessage, since: datetime) -> Receipt | None:
        return None  # storing it again is the whole send: nothing went out that could go out twice


def make_backend(settings: NotifySettings) -> Backend:
    """The backend the settings name; unknown names fail at start-up rather than at the first message."""
    if settings.backend == "outbox":
        return OutboxBackend()
    if settings.backend == "providers":
        from integrations.notify.providers import ProvidersBackend  # the SDKs load only when chosen

        return ProvidersBackend(settings)
    raise ValueError(f"LOOPLINE_NOTIFY_BACKEND must be outbox or providers, not {settings.backend!r}")
