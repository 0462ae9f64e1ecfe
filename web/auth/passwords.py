"""The password policy for every place a password is set (CLI, admin page, demo people, single sign-on).

At least 12 characters (OWASP ASVS 2.1.1) and a zxcvbn score of at least 3 ("safely unguessable": about
10^8 guesses or more, out of reach of the sign-in throttle). `password`, `12345678` and their kin score 0.
Flask-Security gets the same numbers, so its own forms (change password, if ever enabled) agree.
Existing passwords are not re-checked; the policy applies when a password is set.
"""

from __future__ import annotations

from flask import Flask
from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3
TOO_GUESSABLE = "is too easy to guess: use a few unrelated words, not a name, a date or a common password"


def configure_password_policy(app: Flask) -> None:
    """Give Flask-Security's own password checks the same policy."""
    app.config.setdefault("SECURITY_PASSWORD_LENGTH_MIN", MIN_LENGTH)
    app.config.setdefault("SECURITY_PASSWORD_COMPLEXITY_CHECKER", "zxcvbn")
    app.config.setdefault("SECURITY_ZXCVBN_MINIMUM_SCORE", MIN_SCORE)


def password_problem(password: str | None, *, email: str = "") -> str | None:
    """Why a new password is refused (in the engine's English, as the API and CLI speak), or None."""
    password = password or ""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if zxcvbn(password, user_inputs=[email, email.partition("@")[0]])["score"] < MIN_SCORE:
        return TOO_GUESSABLE
    return None
