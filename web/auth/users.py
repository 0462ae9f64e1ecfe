"""Managing people: create, roles, groups; used by the CLI, the admin API and demo seeding."""

from __future__ import annotations

from flask_security import SQLAlchemyUserDatastore, hash_password
from sqlalchemy import or_, select

from orchestrator.actors import Actor
from orchestrator.authorization import KNOWN_ROLES
from orchestrator.errors import Conflict, InvalidInput, NotFound
from web.auth.models import ApiKey, Group, User
from web.auth.passwords import password_problem

DEFAULT_GROUPS = ("customer_service", "warehouse", "qa", "finance", "sales_manager", "legal", "engineering",
                  "management", "asset_management")


def actor_for_user(user: User) -> Actor:
    return Actor(user.actor_name, groups=frozenset(g.name for g in user.groups),
                 roles=frozenset(r.name for r in user.roles))


def groups_of(session, name: str) -> frozenset[str] | None:
    """The groups of a person (e-mail or user name) or API key ('apikey:NAME'); None when unknown."""
    if name.startswith("apikey:"):
        key = session.scalar(select(ApiKey).where(ApiKey.name == name.removeprefix("apikey:"),
                                                  ApiKey.revoked_at.is_(None)))
        return frozenset(key.groups or []) if key is not None else None
    user = session.scalar(select(User).where(or_(User.email == name, User.username == name), User.active.is_(True)))
    return frozenset(g.name for g in user.groups) if user is not None else None


def ensure_roles_and_groups(datastore: SQLAlchemyUserDatastore, groups=DEFAULT_GROUPS) -> None:
    for name in KNOWN_ROLES:
        datastore.find_or_create_role(name=name)
    session = datastore.db.session
    for name in groups:
        if session.get(Group, name) is None:
            session.add(Group(name=name, label=name.replace("_", " ").title()))
    session.commit()


def create_user(datastore: SQLAlchemyUserDatastore, email: str, password: str, *, roles=("staff",),
                groups=(), username: str | None = None) -> User:
    errors = {}
    if "@" not in (email or ""):
        errors["email"] = "must be an e-mail address"
    if problem := password_problem(password, email=email or ""):
        errors["password"] = problem
    unknown = [r for r in roles if r not in KNOWN_ROLES]
    if unknown:
        errors["roles"] = f"unknown role(s) {unknown}; known: {', '.join(KNOWN_ROLES)}"
    if errors:
        raise InvalidInput("invalid user", errors)
    if datastore.find_user(email=email) is not None:
        raise Conflict(f"user {email} already exists")
    user = datastore.create_user(email=email, username=username, password=hash_password(password),
                                 roles=[datastore.find_role(r) for r in roles])
    datastore.db.session.flush()
    for group in groups:
        add_group(datastore, user, group)
    datastore.commit()
    return user


def add_group(datastore: SQLAlchemyUserDatastore, user: User, group_name: str) -> None:
    group = datastore.db.session.get(Group, group_name)
    if group is None:
        raise NotFound(f"group '{group_name}' does not exist")
    if group not in user.groups:
        user.groups.append(group)
