"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from workflow.models import Base


def test_migrated_schema_matches_the_models(app: Flask) -> None:
    engine = app.extensions["ruta_db"].engine
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrading_a_database_with_data_keeps_it(tmp_path: Path) -> None:
    """Every migration runs over a database that already has Rutas and their history."""
    from sqlalchemy import text

    from ruta.db import make_engine
    from ruta.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'viejo.db'}")
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO secretarias (id, name, divipola, horizon_start_year, horizon_years) "
            "VALUES (1, 'Secretaría de Educación de Ibagué', '73001', 2024, 3)"))
        connection.execute(text(
            "INSERT INTO schools (id, secretaria_id, dane_code, name, zona, locality, active, "
            "created_at) VALUES (1, 1, '173001000001', 'IE San Simón', 'urbana', 'Comuna 2', "
            "true, '2024-01-09 13:00:00')"))
        connection.execute(text(
            "INSERT INTO rutas (id, school_id, horizon_start_year, horizon_end_year, state, "
            "state_changed_at, version, created_at) VALUES (1, 1, 2024, 2026, 'en_revision', "
            "'2024-02-20 13:00:00', 4, '2024-01-09 13:00:00')"))
        connection.execute(text(
            "INSERT INTO ruta_transitions (ruta_id, trigger, from_state, to_state, at, extra) "
            "VALUES (1, 'abrir_ruta', NULL, 'borrador', '2024-01-09 13:00:00', '{}')"))

    upgrade(engine)

    with engine.connect() as connection:
        ruta = connection.execute(text("SELECT state, version FROM rutas")).one()
        history = connection.execute(text("SELECT trigger FROM ruta_transitions")).all()
        enforced = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    engine.dispose()
    assert tuple(ruta) == ("en_revision", 4)
    assert [row[0] for row in history] == ["abrir_ruta"]
    assert enforced == 1


def test_a_failed_upgrade_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    """Half a schema is worse than none: on SQLite too, an upgrade is one transaction."""
    import pytest
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import OperationalError

    from ruta.db import make_engine
    from ruta.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'medio.db'}")
    upgrade(engine, "0001")
    with engine.begin() as connection:
        # A table in the way of migration 0003, after 0002 has created the outbox.
        connection.execute(text("CREATE TABLE job_runs (id INTEGER PRIMARY KEY)"))

    with pytest.raises(OperationalError, match="already exists"):
        upgrade(engine)

    tables = set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert version == "0001"
    assert "outbox" not in tables
