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
