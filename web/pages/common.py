"""What every staff page needs: a signed-in person as an Actor, CSRF on every form post, safe redirects."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_security import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from orchestrator.actors import Actor
from orchestrator.errors import EngineError, Forbidden
from orchestrator.service import Engine
from web.auth.users import actor_for_user
from web.extensions import ENGINE_KEY


def engine() -> Engine:
    return current_app.extensions[ENGINE_KEY]


def person() -> Actor:
    return actor_for_user(current_user)


def refusal(exc: EngineError) -> str:
    """What a person reads when a command refuses: a role's refusal in their language, else the engine's words."""
    if isinstance(exc, Forbidden):
        return _("Your role does not allow this; nothing was changed.")
    return exc.message


def refused(exc: EngineError, back: str):
    """The answer to a form a command refused: a role that may not do this gets a 403 page saying so (no
    redirect that reads like success); any other refusal goes back to `back` with the reason flashed."""
    if isinstance(exc, Forbidden):
        return render_template("errors/message.html", heading=_("Not allowed"), message=refusal(exc),
                               back=None), 403
    flash(refusal(exc), "error")
    return redirect(back)


def check_csrf() -> None:
    """Every state-changing form carries the session's CSRF token (Flask-WTF), checked here."""
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as exc:
        raise CSRFError(str(exc)) from exc


def signed_in_pages(blueprint) -> None:
    """Send anonymous visitors to the login page; check CSRF on every POST of the blueprint."""

    @blueprint.before_request
    def _guard():
        if not current_user.is_authenticated:
            return redirect(url_for("security.login", next=request.full_path.rstrip("?")))
        if request.method == "POST":
            check_csrf()
        return None


def safe_next(target: str | None, default: str = "/") -> str:
    """Only local paths: a crafted ?next= must not send a person to another site."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


MAX_PAGE_NUMBER = 100_000


def page_number() -> int:
    """The ?page= of a list, 1-based and bounded (a huge number is the last page, not an error)."""
    return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE_NUMBER)


def page_count(total: int, size: int) -> int:
    return max((total + size - 1) // size, 1)
