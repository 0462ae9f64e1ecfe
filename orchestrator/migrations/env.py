"""Alembic environment: the URL comes from the caller (orchestrator.migrate), metadata from the models."""

from alembic import context
from sqlalchemy import create_engine, pool

from integrations import (
    local_models,  # noqa: F401  (the local backends' tables)
    recall_registrations,  # noqa: F401  (the public recall pages' tables)
)
from integrations.notify import models as notify_models  # noqa: F401
from integrations.traceability import models as trace_models  # noqa: F401
from orchestrator import (
    import_models,  # noqa: F401
    metric_models,  # noqa: F401
    models,  # noqa: F401  (registers the tables)
    quality_models,  # noqa: F401
)
from orchestrator.db import Base

# one metadata for every table; the web layer's (people, API keys) are in it when the caller imported them
METADATA = Base.metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=METADATA, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection") or create_engine(url, poolclass=pool.NullPool)
    if hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=METADATA, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
