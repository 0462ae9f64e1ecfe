"""Flask-Security-Too for people: session login, argon2 passwords, CSRF on forms."""

from __future__ import annotations

from flask import Flask
from flask_security import SQLAlchemyUserDatastore

from web.auth.models import Role, User
from web.extensions import db, security


def init_security(app: Flask) -> SQLAlchemyUserDatastore:
    app.config.setdefault("SECURITY_PASSWORD_HASH", "argon2")
    app.config.setdefault("SECURITY_PASSWORD_SALT", app.config["SECRET_KEY"])
    app.config.setdefault("SECURITY_REGISTERABLE", False)
    app.config.setdefault("SECURITY_SEND_REGISTER_EMAIL", False)
    app.config.setdefault("SECURITY_USERNAME_ENABLE", False)
    app.config.setdefault("SECURITY_TOKEN_AUTHENTICATION_HEADER", "X-Session-Token")
    # the REST API authenticates with Bearer API keys; browser forms keep CSRF protection
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    datastore = SQLAlchemyUserDatastore(db, User, Role)
    security.init_app(app, datastore, register_blueprint=True)
    return datastore
