"""Run the Alembic migrations programmatically (``ruta init-db``, tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

from ruta.config import PROJECT_ROOT


class MigrationError(RuntimeError):
    """The migrated database breaks a foreign key: nothing was committed."""


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if engine is not None:
        config.set_main_option("sqlalchemy.url",
                               engine.url.render_as_string(hide_password=False))
    return config


def _run(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def upgrade_on(connection: Connection, revision: str = "head") -> None:
    """Migrate in the caller's PostgreSQL transaction, as whatever role it has set
    (``ruta init-db --owner``)."""
    _run(connection, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to ``revision``: all of it or, on any error, none of it."""
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():  # PostgreSQL's DDL is transactional as it is
                _run(connection, revision)
            return
        # Python's sqlite3 commits before every DDL statement on its own, so a failed
        # migration would leave half a schema. In autocommit mode we say BEGIN ourselves and
        # the whole upgrade is one transaction. Foreign keys are off meanwhile: SQLite alters
        # a table by copying and dropping it, and the drop fails when rows point at it; the
        # pragma only works outside a transaction. foreign_key_check proves nothing broke.
        raw = connection.connection.driver_connection
        raw.isolation_level = None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                raw.execute("BEGIN")
                _run(connection, revision)
                broken = raw.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise MigrationError(f"foreign keys broken by the migration: {broken}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
            raw.isolation_level = ""  # the driver's default again, for the pool
