"""Schema migrations (Alembic), one history per service under ``services/<svc>/migrations``.

``upgrade(service, url)`` brings a database to the newest revision; services call it at start
(under a PostgreSQL advisory lock, so replicas starting together migrate once). Each service's
``env.py`` is two lines that call :func:`run_env`.
"""
from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

import services

SERVICES_DIR = Path(services.__file__).resolve().parent


def alembic_config(service: str, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    cfg.attributes["service"] = service
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision(service: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(service)).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(service: str, engine) -> str | None:
    """Apply every pending migration of ``service``; returns the revision now current."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            lock_key = zlib.crc32(f"zhicheng-migrate-{service}".encode())
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
        command.upgrade(alembic_config(service, connection), "head")
        return current_revision(connection)


def run_env() -> None:
    """Body of every service's ``migrations/env.py`` (online mode, connection passed in)."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `zhicheng migrate` (shared.migrations.upgrade)")
    context.configure(connection=connection, transaction_per_migration=False,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def create_messaging_tables(op) -> None:
    """Create ``outbox`` and ``processed_events`` in a service's first migration (their shape is
    defined once, in :func:`shared.db.messaging_tables`)."""
    from shared.db import messaging_tables, new_metadata

    metadata = new_metadata()
    messaging_tables(metadata)
    metadata.create_all(op.get_bind())
