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


def test_pmi_coherence_migration_keeps_hallazgos_metas_and_indicators(tmp_path: Path) -> None:
    """0012: existing metas become «alcanzar un valor», each meta's first indicator its result
    indicator (the rest process ones), hallazgos keep their Saber source with empty data."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from ruta.db import make_engine
    from ruta.migrate import upgrade
    from workflow.pmi.models import Hallazgo, Indicador, IndicadorTipo, Meta, MetaTipo

    engine = make_engine(f"sqlite:///{tmp_path / 'pmi.db'}")
    upgrade(engine, "0011")
    statements = (
        "INSERT INTO secretarias (id, name, divipola, horizon_start_year, horizon_years) "
        "VALUES (1, 'Secretaría de Educación de Ibagué', '73001', 2024, 3)",
        "INSERT INTO schools (id, secretaria_id, dane_code, name, zona, locality, active, "
        "created_at) VALUES (1, 1, '173001000001', 'IE San Simón', 'urbana', 'Comuna 2', "
        "true, :at)",
        "INSERT INTO rutas (id, school_id, horizon_start_year, horizon_end_year, state, "
        "state_changed_at, version, created_at) VALUES (1, 1, 2024, 2026, 'en_revision', "
        ":at, 4, :at)",
        "INSERT INTO pmi_hallazgos (id, ruta_id, fuente, area, grado, descripcion, "
        "created_at) VALUES (1, 1, 'saber_11', 'Matemáticas', '11.°', 'Nivel 1: 68 %.', "
        ":at), (2, 1, 'interna', 'Lenguaje', '6.°', 'Reprobación 14 %.', :at)",
        "INSERT INTO pmi_objetivos (id, ruta_id, enunciado, created_at) VALUES (1, 1, "
        "'Mejorar matemáticas.', :at)",
        "INSERT INTO pmi_metas (id, ruta_id, objetivo_id, enunciado, cantidad, unidad, "
        "fecha_limite, linea_base, created_at) VALUES (1, 1, 1, 'Aumentar al 45 %.', 45, "
        "'%', '2026-11-30', 32, :at)",
        "INSERT INTO pmi_indicadores (id, ruta_id, meta_id, nombre, formula, unidad, "
        "frecuencia, fuente, linea_base, metas_anuales, created_at) VALUES "
        "(1, 1, 1, 'Porcentaje sobre el mínimo', 'a / b', '%', 'Anual', 'ICFES', 32, "
        ":result, :at), (2, 1, 1, 'Talleres realizados', 'conteo', 'talleres', 'Anual', "
        "'Actas', 0, :process, :at)",
    )
    values = {"at": "2024-02-01 13:00:00", "result": '{"2026": 45}',
              "process": '{"2026": 20}'}
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), {name: value for name, value in values.items()
                                                 if f":{name}" in statement})

    upgrade(engine)

    with Session(engine) as session:
        hallazgos = session.query(Hallazgo).order_by(Hallazgo.id).all()
        meta = session.get(Meta, 1)
        indicators = session.query(Indicador).order_by(Indicador.id).all()
        assert [(row.fuente, row.anio, row.valor, row.componentes) for row in hallazgos] == [
            ("saber_11", None, None, []), ("interna", None, None, [])]
        assert meta is not None and meta.tipo is MetaTipo.ALCANZAR
        assert [(row.tipo, row.binario) for row in indicators] == [
            (IndicadorTipo.RESULTADO, False), (IndicadorTipo.PROCESO, False)]
        # The new source list fits: a code the old enum refused is stored now.
        session.add(Hallazgo(ruta_id=1, fuente="evaluar_para_avanzar", area="Lectura",
                             grado="5.°", descripcion="El 40 % no identifica la idea."))
        session.commit()
    engine.dispose()
