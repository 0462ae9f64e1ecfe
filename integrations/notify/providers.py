"""Twilio for SMS and SendGrid for e-mail, through their SDKs.

Provider answers are sorted into the three outcomes a job understands: worth retrying (`TransientError`),
refused for this one recipient (`RecipientRejected`, the rest of a campaign goes on) and refused for
every message (`BusinessError` E_NOTIFY_CONFIG / E_NOTIFY_REJECTED: wrong credentials, bad sender).
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import urllib.error
from datetime import datetime, timedelta

import requests
from python_http_client.exceptions import HTTPError as SendGridHTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Mail, To
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioClient
from urllib3.exceptions import ConnectTimeoutError

from integrations.config import NotifySettings
from integrations.notify.backends import (
    INVALID_RECIPIENT,
    NOTIFICATION_ARG,
    AnswerLost,
    LookupUnavailable,
    OutgoingMessage,
    Receipt,
    RecipientRejected,
)
from integrations.registry import BusinessError, TransientError

SENDGRID_DEFAULT_HOST = "https://api.sendgrid.com"
# Twilio errors that are about the sender or the account, not the recipient: no recipient would get through
TWILIO_SENDER_ERRORS = frozenset({20003, 20404, 21212, 21603, 21606, 21659})
# a provider's clock and ours may differ a little: its record of a message may look older than our claim
CLOCK_SKEW = timedelta(minutes=5)
_AUTHORIZATION = re.compile(r"""(authorization['"]?\s*[:=]\s*['"]?)[^'"\r\n]*""", re.IGNORECASE)


class RedactAuthorization(logging.Filter):
    """Blank the value of any Authorization header a record shows; the record itself is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _AUTHORIZATION.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


# SendGrid's HTTP client logs every request's headers, API key included, at DEBUG; Twilio's logs its
# headers at INFO (it skips Authorization today — the filter keeps it so if that changes)
for _sdk_logger in ("python_http_client.client", "twilio.http_client"):
    logging.getLogger(_sdk_logger).addFilter(RedactAuthorization())


class ProvidersBackend:
    """SMS through Twilio, e-mail through SendGrid; clients are built on first use and kept."""

    def __init__(self, settings: NotifySettings):
        self.settings = settings
        self._twilio: TwilioClient | None = None
        self._sendgrid: SendGridAPIClient | None = None

    def send(self, message: OutgoingMessage) -> Receipt:
        if message.channel == "sms":
            return self._send_sms(message)
        return self._send_email(message)

    def twilio(self) -> TwilioClient:
        if self._twilio is None:
            if not (self.settings.twilio_account_sid and self.settings.twilio_auth_token and self.settings.twilio_from):
                raise BusinessError("E_NOTIFY_CONFIG", "SMS needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM")
            client = TwilioClient(self.settings.twilio_account_sid, self.settings.twilio_auth_token,
                                  http_client=TwilioHttpClient(timeout=self.settings.timeout))
            if self.settings.twilio_base_url:
                client.api.base_url = self.settings.twilio_base_url.rstrip("/")
            self._twilio = client
        return self._twilio

    def sendgrid(self) -> SendGridAPIClient:
        if self._sendgrid is None:
            if not self.settings.sendgrid_api_key:
                raise BusinessError("E_NOTIFY_CONFIG", "e-mail needs SENDGRID_API_KEY")
            client = SendGridAPIClient(self.settings.sendgrid_api_key,
                                       host=self.settings.sendgrid_host.rstrip("/") or SENDGRID_DEFAULT_HOST)
            client.client.timeout = self.settings.timeout
            self._sendgrid = client
        return self._sendgrid

    def _send_sms(self, message: OutgoingMessage) -> Receipt:
        sender = self.settings.twilio_from
        origin = {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}
        try:
            sent = self.twilio().messages.create(
                to=message.address, body=message.text,
                status_callback=f"{self.settings.ack_base_url.rstrip('/')}/webhooks/twilio/status", **origin)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _twilio_error(exc) from None
        except requests.RequestException as exc:
            if _request_reached_twilio(exc):
                raise AnswerLost(f"Twilio did not answer: {type(exc).__name__}") from None
            raise TransientError(f"Twilio unreachable: {type(exc).__name__}") from None
        return Receipt("twilio", sent.sid)

    def lookup(self, message: OutgoingMessage, since: datetime) -> Receipt | None:
        """Ask the provider whether it took `message`: Twilio by recipient and text (an SMS carries no id of
        ours), SendGrid by the notification id sent along as a custom argument."""
        if message.channel == "sms":
            return self._lookup_sms(message, since)
        return self._lookup_email(message)

    def _lookup_sms(self, message: OutgoingMessage, since: datetime) -> Receipt | None:
        try:
            found = self.twilio().messages.list(to=message.address, limit=50)
        except TwilioException as exc:  # a list page that fails comes as ('Unable to fetch page', response)
            status = int(getattr(exc, "status", 0) or getattr(exc.args[-1], "status_code", 0) or 0)
            if status in (408, 429) or status >= 500:
                raise TransientError(f"Twilio message list answered {status}") from None
            raise LookupUnavailable(f"Twilio message list answered {status}") from None
        except requests.RequestException as exc:
            raise TransientError(f"Twilio unreachable: {type(exc).__name__}") from None
        for sent in found:
            created = sent.date_created
            if sent.body == message.text and (created is None or created >= since - CLOCK_SKEW):
                return Receipt("twilio", sent.sid)
        return None

    def _lookup_email(self, message: OutgoingMessage) -> Receipt | None:
        query = f"unique_args['{NOTIFICATION_ARG}']=\"{message.notification_id}\""
        try:
            response = self.sendgrid().client.messages.get(query_params={"query": query, "limit": 1})
        except SendGridHTTPError as exc:
            status = int(getattr(exc, "status_code", 0) or 0)
            if status in (408, 429) or status >= 500:
                raise TransientError(f"SendGrid e-mail activity answered {status}") from None
            # e.g. 403: the account has no e-mail activity history, so nobody can tell from here
            raise LookupUnavailable(f"SendGrid e-mail activity answered {status}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise TransientError(f"SendGrid unreachable: {type(exc).__name__}") from None
        try:
            messages = json.loads(response.body or b"{}").get("messages") or []
        except (ValueError, AttributeError):
            raise LookupUnavailable("SendGrid e-mail activity answered something else than JSON") from None
        if not messages:
            return None
        return Receipt("sendgrid", str(messages[0].get("msg_id") or "").split(".")[0] or None)

    def _send_email(self, message: OutgoingMessage) -> Receipt:
        mail = Mail(from_email=self.settings.sendgrid_from, to_emails=To(message.address, message.name or None),
                    subject=message.subject or "", plain_text_content=message.text, html_content=message.html)
        mail.custom_arg = CustomArg(NOTIFICATION_ARG, message.notification_id)
        try:
            response = self.sendgrid().send(mail)
        except SendGridHTTPError as exc:
            raise _sendgrid_error(exc) from None
        except urllib.error.URLError as exc:  # connecting or sending failed: the request never arrived whole
            raise TransientError(f"SendGrid unreachable: {type(exc.reason).__name__}") from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:  # sent, then no answer
            raise AnswerLost(f"SendGrid did not answer: {type(exc).__name__}") from None
        headers = response.headers
        return Receipt("sendgrid", headers.get("X-Message-Id") if headers is not None else None)


def _request_reached_twilio(exc: requests.RequestException) -> bool:
    """False only when the connection could not even be made (the request never left); a timeout waiting
    for the answer or a connection dropped mid-answer may hide a message Twilio took."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return not isinstance(reason, ConnectTimeoutError)  # NewConnectionError (refused) is one too
    return True


def _twilio_error(exc: TwilioRestException | TwilioServiceException) -> Exception:
    status, code = int(exc.status or 0), exc.code
    summary = f"Twilio answered {status}" + (f" (error {code})" if code else "")
    if status in (408, 429) or status >= 500:
        return TransientError(summary)
    if status in (401, 403) or code in TWILIO_SENDER_ERRORS:
        return BusinessError("E_NOTIFY_CONFIG", f"{summary}: check the Twilio account and sender settings")
    return RecipientRejected(INVALID_RECIPIENT, f"{summary}: {getattr(exc, 'msg', '') or 'recipient refused'}",
                             {"providerCode": code})


def _sendgrid_error(exc: SendGridHTTPError) -> Exception:
    status = int(getattr(exc, "status_code", 0) or 0)
    summary = f"SendGrid answered {status}"
    if status in (408, 429) or status >= 500:
        return TransientError(summary)
    if status in (401, 403):
        return BusinessError("E_NOTIFY_CONFIG", f"{summary}: check SENDGRID_API_KEY and the sender identity")
    errors = _sendgrid_errors(exc)
    if any(str(e.get("field") or "").startswith("personalizations") for e in errors):
        details = "; ".join(str(e.get("message", "")) for e in errors)
        return RecipientRejected(INVALID_RECIPIENT, f"{summary}: {details or 'recipient refused'}")
    return BusinessError("E_NOTIFY_REJECTED", f"{summary}: " + "; ".join(str(e.get("message", "")) for e in errors))


def _sendgrid_errors(exc: SendGridHTTPError) -> list[dict]:
    try:
        body = exc.body.decode("utf-8") if isinstance(exc.body, bytes) else str(exc.body or "")
        errors = json.loads(body).get("errors") or []
        return [e for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError):
        return []


