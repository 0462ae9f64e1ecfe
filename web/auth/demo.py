"""Demo people for the embedded default only: one per staff group plus admin, owner and auditor."""

from __future__ import annotations

from flask_security import SQLAlchemyUserDatastore

from web.auth.users import DEFAULT_GROUPS, create_user, ensure_roles_and_groups

DEMO_PASSWORD = "loopline-demo"
DEMO_PEOPLE = [
    ("admin@demo.loopline", ("admin",), ()),
    ("owner@demo.loopline", ("process_owner",), ()),
    ("auditor@demo.loopline", ("auditor",), ()),
    # management reads the dashboards and reports besides deciding on recalls
    *[(f"{group.replace('_', '.')}@demo.loopline", ("manager",) if group == "management" else ("staff",), (group,))
      for group in DEFAULT_GROUPS],
]


def seed_demo_users(datastore: SQLAlchemyUserDatastore) -> list[str]:
    """Create the demo people that do not exist yet; returns the e-mails created."""
    ensure_roles_and_groups(datastore)
    created = []
    for email, roles, groups in DEMO_PEOPLE:
        if datastore.find_user(email=email) is None:
            create_user(datastore, email, DEMO_PASSWORD, roles=roles, groups=groups)
            created.append(email)
    return created
