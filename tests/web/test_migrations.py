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


def test_rule_sets_pin_every_existing_ruta_to_version_one_of_its_settings(
        tmp_path: Path) -> None:
    """0011 turns each Secretaría's settings into rule set 1 (with the product every Ruta was
    prioritised with so far) and pins its Rutas to it; a Secretaría with Rutas but no settings
    gets the defaults."""
    from sqlalchemy import text

    from ruta.db import make_engine
    from ruta.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'reglas.db'}")
    upgrade(engine, "0010")
    with engine.begin() as connection:
        for secretaria_id, name, divipola in ((1, "Secretaría de Educación de Ibagué", "73001"),
                                              (2, "Secretaría de Educación del Tolima", "73000")):
            connection.execute(text(
                "INSERT INTO secretarias (id, name, divipola, horizon_start_year, "
                "horizon_years) VALUES (:id, :name, :divipola, 2024, 3)"),
                {"id": secretaria_id, "name": name, "divipola": divipola})
        connection.execute(text(
            "INSERT INTO instrument_settings (secretaria_id, catalog_id, evidence_from_level, "
            "fortaleza_from_level, updated_at) VALUES (1, NULL, 2, 4, '2024-01-02 10:00:00')"))
        for school_id, secretaria_id, state in ((1, 1, "borrador"), (2, 1, "aprobado"),
                                                (3, 1, "cerrado"), (4, 2, "en_revision")):
            connection.execute(text(
                "INSERT INTO schools (id, secretaria_id, dane_code, name, zona, locality, "
                "active, created_at) VALUES (:id, :s, :dane, :name, 'urbana', 'Comuna 2', "
                "true, '2024-01-09 13:00:00')"),
                {"id": school_id, "s": secretaria_id, "dane": f"17300100000{school_id}",
                 "name": f"IE número {school_id}"})
            connection.execute(text(
                "INSERT INTO rutas (id, school_id, horizon_start_year, horizon_end_year, "
                "state, state_changed_at, version, created_at) VALUES (:id, :id, 2024, 2026, "
                ":state, '2024-02-20 13:00:00', 3, '2024-01-09 13:00:00')"),
                {"id": school_id, "state": state})

    upgrade(engine)

    with engine.connect() as connection:
        sets = connection.execute(text(
            "SELECT id, secretaria_id, number, evidence_from_level, fortaleza_from_level, "
            "priority_formula, priority_count, team_min_members, team_min_estamentos "
            "FROM rule_sets ORDER BY secretaria_id")).all()
        pinned = dict(connection.execute(text("SELECT id, rule_set_id FROM rutas")).all())
        current = dict(connection.execute(text(
            "SELECT secretaria_id, rule_set_id FROM instrument_settings")).all())
    engine.dispose()
    ibague, tolima = sets
    assert tuple(ibague)[1:] == (1, 1, 2, 4, "producto", 3, 4, 2)
    assert tuple(tolima)[1:] == (2, 1, 3, 3, "producto", 3, 4, 2)
    assert pinned == {1: ibague.id, 2: ibague.id, 3: ibague.id, 4: tolima.id}
    assert current == {1: ibague.id, 2: tolima.id}
