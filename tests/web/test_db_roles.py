"""E25: the history cannot be emptied or rewritten through the application's role.

``ruta init-db --owner`` runs the migrations as an owner role and leaves the application's
role (the user of DATABASE_URL) only row reads and writes; the append-only tables refuse
TRUNCATE even to their owner (migration 0031). PostgreSQL only: SQLite has no roles and
no TRUNCATE.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ruta import create_app
from ruta.db import make_engine
from tests.conftest import app_config, require_postgres
from workflow.models import OPENED, Ruta, RutaTransition, School, Secretaria, Zona
from workflow.states import State

SUFFIX = os.environ.get("PYTEST_XDIST_WORKER", "main")
# Roles belong to the whole cluster, not to a database: named after the test database too, so
# a run against another one (TEST_DATABASE_URL=…/test_x) never meets the roles that a run
# against ``test`` left granted in its own ``test_roles_*`` database.
_BASE = make_url(os.environ.get("TEST_DATABASE_URL") or "postgresql:///test").database
APP_ROLE, OWNER = f"ruta_app_{_BASE}_{SUFFIX}", f"ruta_owner_{_BASE}_{SUFFIX}"
# Chosen by `-m postgres`, left out by `-m "not postgres"` (the second Python's SQLite run).
pytestmark = pytest.mark.postgres


def _drop(admin: Engine, database: str) -> None:
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        for role in (APP_ROLE, OWNER):
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))


@pytest.fixture
def split_database() -> Iterator[tuple[str, str]]:
    """A fresh database owned, as a first install often is, by the application's role:
    (the application's URL, a superuser's URL to it). Dropped before, not after: DROP
    DATABASE costs a checkpoint (17 s on the CI machine), and the next run drops it anyway."""
    base = make_url(require_postgres())
    database = f"{base.database}_roles_{SUFFIX}"
    admin = make_engine(base.render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    _drop(admin, database)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{APP_ROLE}" LOGIN'))
        connection.execute(text(f'CREATE DATABASE "{database}" OWNER "{APP_ROLE}"'))
    superuser_url = base.set(database=database).render_as_string(hide_password=False)
    app_url = base.set(database=database, username=APP_ROLE, password=None)
    admin.dispose()
    yield app_url.render_as_string(hide_password=False), superuser_url


def refused(engine: Engine, statement: str) -> str:
    with engine.connect() as connection, pytest.raises(DBAPIError) as error:
        connection.execute(text(statement))
    return str(error.value.orig)


def test_init_db_with_an_owner_leaves_the_app_role_only_rows(
        split_database: tuple[str, str]) -> None:
    app_url, superuser_url = split_database
    app = create_app(app_config(app_url))
    result = app.test_cli_runner().invoke(
        args=["init-db", "--owner", OWNER, "--owner-url", superuser_url])
    assert result.exit_code == 0, result.output
    assert f"Migraciones aplicadas como «{OWNER}»" in result.output
    assert "Instrumentos cargados" in result.output  # the app role inserted the catalogs
    app.extensions["ruta_db"].dispose()

    application = make_engine(app_url)
    try:
        assert "permission denied" in refused(application, "TRUNCATE ruta_transitions")
        assert "must be owner" in refused(application,
                                          "ALTER TABLE ruta_transitions DISABLE TRIGGER ALL")
        assert "must be owner" in refused(application, "DROP TABLE ruta_transitions")
        assert "must be owner" in refused(application, "DROP SCHEMA public CASCADE")
        assert "permission denied" in refused(application, "CREATE TABLE otra (id int)")

        with Session(application) as session:  # normal use: rows in, rows out
            secretaria = Secretaria(name="Secretaría de Prueba", divipola="73")
            school = School(secretaria=secretaria, dane_code="173001000001",
                            name="IE Prueba", zona=Zona.URBANA, locality="Centro")
            ruta = Ruta(school=school, horizon_start_year=2024, horizon_end_year=2026)
            session.add(RutaTransition(ruta=ruta, trigger=OPENED, from_state=None,
                                       to_state=State.BORRADOR))
            session.commit()
            assert session.query(RutaTransition).count() == 1
        assert "append-only" in refused(application, "DELETE FROM ruta_transitions")
    finally:
        application.dispose()

    owner = make_engine(superuser_url)
    try:
        with owner.connect() as connection:
            connection.execute(text(f'SET ROLE "{OWNER}"'))
            with pytest.raises(DBAPIError, match="append-only"):
                connection.execute(text("TRUNCATE ruta_transitions CASCADE"))
            connection.rollback()
            connection.execute(text(f'SET ROLE "{OWNER}"'))
            with pytest.raises(DBAPIError, match="immutable"):
                connection.execute(text("TRUNCATE pmi_snapshots CASCADE"))
    finally:
        owner.dispose()


def test_init_db_owner_refuses_a_superuser_app_role() -> None:
    superuser_url = require_postgres()
    app = create_app(app_config(superuser_url))
    result = app.test_cli_runner().invoke(
        args=["init-db", "--owner", OWNER, "--owner-url", superuser_url])
    app.extensions["ruta_db"].dispose()
    assert result.exit_code == 1
    assert "es superusuario" in result.output
