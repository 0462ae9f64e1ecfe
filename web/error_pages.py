"""Errors as people see them: a page in the site's frame and their language, with a way back.

The API answers problem+json (web/api/problems.py); the other machine doors (Camunda's external-task
protocol, delivery webhooks) get a problem too, never an HTML page."""

from __future__ import annotations

import logging

from flask import Response, render_template, request, url_for
from flask_babel import gettext as _
from flask_security import current_user
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from web.api.problems import problem, retry_after
from web.pages.common import safe_next

MACHINE_PATHS = ("/engine-rest/", "/webhooks/")
log = logging.getLogger(__name__)


def _texts(code: int) -> tuple[str, str]:
    """The heading and the sentence of a status, in the reader's language."""
    texts = {
        400: (_("This request could not be understood"),
              _("Something in the address or the form was not right. Go back and try again; nothing was changed.")),
        401: (_("Please sign in"), _("Sign in to see this page.")),
        403: (_("Not allowed"), _("Your role does not allow this page. Ask an administrator if you need it.")),
        404: (_("Page not found"),
              _("There is no page at this address, or it has moved. Check the address or go back.")),
        405: (_("This action is not available here"),
              _("The page was opened in a way it does not accept. Go back and use its buttons.")),
        500: (_("Something went wrong on our side"),
              _("The error was recorded. Try again in a moment; if it keeps happening, tell an administrator.")),
        503: (_("Loopline cannot reach its database"),
              _("This is usually over within seconds. Wait a moment, then reload the page or send the form again.")),
    }
    return texts.get(code, texts[500] if code >= 500 else texts[400])


def _way_back() -> str | None:
    """The page the person came from on this site, if any."""
    referrer = request.referrer or ""
    origin = request.host_url.rstrip("/")
    if referrer.startswith(origin + "/"):
        back = safe_next(referrer[len(origin):], default="")
        return back if back and back != request.full_path.rstrip("?") else None
    return None


def error_page(exc: HTTPException):
    """The site's page for an HTTP error (the framework's bare pages never show)."""
    code = exc.code or 500
    headers = retry_after(exc)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    if request.path.startswith(MACHINE_PATHS):
        return problem(code, exc.name, exc.description or "", headers=headers)
    heading, message = _texts(code)
    try:
        signed_in = bool(current_user and current_user.is_authenticated)
    except Exception:  # noqa: BLE001 - the person is read from the database, which may be what failed
        signed_in = False
    home = url_for("inbox.inbox") if signed_in else url_for("security.login")
    try:
        body = render_template("errors/error.html", code=code, heading=heading, message=message,
                               back=_way_back(), home=home, signed_in=signed_in)
    except Exception:  # noqa: BLE001 - the frame itself failed (database gone): a page without it
        log.exception("error page %s could not be drawn in the site frame", code)
        body = render_template("errors/bare.html", code=code, heading=heading, message=message, home=home)
    return Response(body, status=code, headers=headers, mimetype="text/html")
