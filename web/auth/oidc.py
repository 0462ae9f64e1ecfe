"""Optional single sign-on with OpenID Connect: the provider's groups claim becomes Loopline groups."""

from __future__ import annotations

import secrets

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, redirect, url_for
from flask_security import login_user

from orchestrator.settings import Settings
from web.auth.models import Group
from web.auth.users import create_user
from web.extensions import db

oidc = Blueprint("oidc", __name__)
oauth = OAuth()


def init_oidc(app: Flask, settings: Settings) -> None:
    """Register the provider and the /login/sso routes when LOOPLINE_OIDC_ISSUER is set."""
    if not settings.oidc_issuer:
        return
    oauth.init_app(app)
    oauth.register(
        "sso",
        server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret or None,
        client_kwargs={"scope": "openid email profile"},
    )
    app.register_blueprint(oidc)


@oidc.get("/login/sso")
def start_sign_in():
    return oauth.sso.authorize_redirect(url_for("oidc.finish_sign_in", _external=True))


@oidc.get("/login/sso/callback")
def finish_sign_in():
    try:
        token = oauth.sso.authorize_access_token()
    except OAuthError as exc:
        abort(403, f"single sign-on failed: {exc.description or exc.error}")
    claims = token.get("userinfo") or {}
    email = claims.get("email")
    if not email or claims.get("email_verified") is False:
        abort(403, "the identity provider did not vouch for an e-mail address")
    settings: Settings = current_app.config["LOOPLINE_SETTINGS"]
    datastore = current_app.extensions["security"].datastore
    user = datastore.find_user(email=email)
    if user is None:
        user = create_user(datastore, email, secrets.token_urlsafe(24), roles=("staff",))
    user.groups = _mapped_groups(claims.get(settings.oidc_groups_claim) or [], settings.oidc_group_map)
    datastore.commit()
    login_user(user)
    db.session.commit()
    return redirect("/")


def _mapped_groups(external: list[str] | str, mapping: dict[str, str]) -> list[Group]:
    """Provider group names → known Loopline groups (via the map, else by equal name); others are dropped."""
    names = [external] if isinstance(external, str) else list(external)
    wanted = {mapping.get(name, name) for name in names}
    return [group for name in sorted(wanted) if (group := db.session.get(Group, name)) is not None]
