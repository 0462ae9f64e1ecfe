"""Flask-Security-Too for people: session login, argon2 passwords, CSRF on forms."""

from __future__ import annotations

from flask import Flask, current_app
from flask_babel import lazy_gettext as _
from flask_login import user_logged_out
from flask_security import SQLAlchemyUserDatastore

from web.auth.models import Role, User
from web.auth.passwords import configure_password_policy
from web.extensions import db, security

# Flask-Security's own text for this has no Chinese translation; ours is in the staff pages' catalog
SIGN_IN_FAILED = _("The e-mail address or the password is wrong.")


def init_security(app: Flask) -> SQLAlchemyUserDatastore:
    app.config.setdefault("SECURITY_PASSWORD_HASH", "argon2")
    app.config.setdefault("SECURITY_PASSWORD_SALT", app.config["SECRET_KEY"])
    app.config.setdefault("SECURITY_REGISTERABLE", False)
    app.config.setdefault("SECURITY_SEND_REGISTER_EMAIL", False)
    app.config.setdefault("SECURITY_USERNAME_ENABLE", False)
    app.config.setdefault("SECURITY_TOKEN_AUTHENTICATION_HEADER", "X-Session-Token")
    # one answer for a wrong password and an unknown e-mail address: a sign-in form must not list accounts
    app.config.setdefault("SECURITY_RETURN_GENERIC_RESPONSES", True)
    app.config.setdefault("SECURITY_MSG_GENERIC_AUTHN_FAILED", (SIGN_IN_FAILED, "error"))
    configure_password_policy(app)
    # the REST API authenticates with Bearer API keys; browser forms keep CSRF protection
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    datastore = SQLAlchemyUserDatastore(db, User, Role)
    security.init_app(app, datastore, register_blueprint=True)
    user_logged_out.connect(_end_every_session, app)
    return datastore


def _end_every_session(_app, user=None, **_extra) -> None:
    """Sessions are signed cookies naming fs_uniquifier: a new one makes every copy of the old cookie (and
    remember-me cookie) worthless, so a cookie lifted before sign-out does not outlive it."""
    if user is None or not getattr(user, "is_authenticated", False):
        return
    datastore = current_app.extensions["security"].datastore
    datastore.set_uniquifier(user)
    datastore.commit()
