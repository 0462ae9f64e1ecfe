"""Admin pages: people with their roles and groups, groups, API keys, and open incidents."""

from __future__ import annotations

from datetime import datetime, time

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from orchestrator.authorization import KNOWN_ROLES, Permission, can
from orchestrator.errors import EngineError, InvalidInput
from web.auth.apikeys import create_api_key, revoke_api_key
from web.auth.models import ApiKey, Group, User
from web.auth.users import add_group, create_user
from web.extensions import db, security
from web.pages.common import engine, person, signed_in_pages

bp = Blueprint("admin", __name__, url_prefix="/admin")
signed_in_pages(bp)


@bp.before_request
def _admins_only():
    if not can(person(), Permission.ADMINISTER):
        abort(403)


def _done(message: str, target: str):
    flash(message, "info")
    return redirect(url_for(target))


@bp.get("/users")
def users():
    return render_template("admin/users.html", users=db.session.scalars(select(User).order_by(User.email)).all(),
                           groups=_groups(), roles=KNOWN_ROLES, errors={}, entered={})


@bp.post("/users")
def create_person():
    datastore = security.datastore
    entered = {k: request.form.get(k, "").strip() for k in ("email", "role")}
    try:
        create_user(datastore, entered["email"], request.form.get("password", ""), roles=(entered["role"],),
                    groups=request.form.getlist("groups"))
    except InvalidInput as exc:
        db.session.rollback()
        return render_template("admin/users.html", users=db.session.scalars(select(User).order_by(User.email)).all(),
                               groups=_groups(), roles=KNOWN_ROLES, errors=exc.errors, entered=entered), 422
    except EngineError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("admin.users"))
    return _done(_("%(email)s created.", email=entered["email"]), "admin.users")


@bp.post("/users/<int:user_id>/groups")
def set_groups(user_id: int):
    """Replace a person's groups with the ticked ones."""
    user = db.session.get(User, user_id) or abort(404)
    try:
        user.groups.clear()
        for name in request.form.getlist("groups"):
            add_group(security.datastore, user, name)
        db.session.commit()
    except EngineError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("admin.users"))
    return _done(_("Groups of %(email)s saved.", email=user.email), "admin.users")


@bp.post("/users/<int:user_id>/active")
def toggle_active(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    if user.actor_name == person().name:
        flash(_("You cannot deactivate yourself."), "error")
        return redirect(url_for("admin.users"))
    user.active = not user.active
    db.session.commit()
    return _done(_("%(email)s updated.", email=user.email), "admin.users")


def _groups() -> list[Group]:
    return db.session.scalars(select(Group).order_by(Group.name)).all()


@bp.get("/groups")
def groups():
    return render_template("admin/groups.html", groups=_groups(), errors={})


@bp.post("/groups")
def create_group():
    name = request.form.get("name", "").strip()
    if not name or not name.replace("_", "").isalnum() or len(name) > 100 or not name.islower():
        return render_template("admin/groups.html", groups=_groups(),
                               errors={"name": _("lower-case letters, digits and _ (as in candidateGroups)")}), 422
    if db.session.get(Group, name) is None:
        db.session.add(Group(name=name, label=request.form.get("label", "").strip() or name))
        db.session.commit()
    return _done(_("Group %(name)s saved.", name=name), "admin.groups")


@bp.get("/api-keys")
def api_keys():
    keys = db.session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())).all()
    return render_template("admin/api_keys.html", keys=keys, roles=KNOWN_ROLES, groups=_groups(), issued=None,
                           errors={})


@bp.post("/api-keys")
def create_key():
    expires = request.form.get("expires", "").strip()
    try:
        expires_at = datetime.combine(datetime.fromisoformat(expires).date(), time.max).replace(
            tzinfo=engine().now().tzinfo) if expires else None
        issued = create_api_key(db.session, request.form.get("name", "").strip(), request.form.get("role", ""),
                                created_by=person().name, now=engine().now(), groups=request.form.getlist("groups"),
                                expires_at=expires_at)
        db.session.commit()
    except ValueError:
        issued, errors = None, {"expires": _("a date as YYYY-MM-DD")}
    except InvalidInput as exc:
        issued, errors = None, exc.errors
    except EngineError as exc:
        issued, errors = None, {"name": exc.message}
    else:
        errors = {}
    db.session.rollback()
    keys = db.session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())).all()
    return render_template("admin/api_keys.html", keys=keys, roles=KNOWN_ROLES, groups=_groups(), issued=issued,
                           errors=errors), 422 if errors else 201


@bp.post("/api-keys/<int:key_id>/revoke")
def revoke_key(key_id: int):
    try:
        key = revoke_api_key(db.session, key_id, engine().now())
        db.session.commit()
    except EngineError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.api_keys"))
    return _done(_("API key %(name)s revoked.", name=key.name), "admin.api_keys")


@bp.get("/incidents")
def incidents():
    page = engine().queries.list_incidents(person(), open_only=request.args.get("all") != "1", limit=200)
    return render_template("admin/incidents.html", incidents=page.items, show_all=request.args.get("all") == "1")
