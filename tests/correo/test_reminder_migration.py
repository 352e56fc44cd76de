"""Migration 0021: ``reminders_sent.rule`` accepts the «nuevo año de seguimiento» rule, and
going back removes those reminders before restoring the old list."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from ruta.db import make_engine
from ruta.migrate import alembic_config, upgrade


def _a_ruta(engine: Engine) -> None:
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
            "state_changed_at, version, created_at) VALUES (1, 1, 2024, 2026, 'seguimiento', "
            "'2024-04-01 13:00:00', 4, '2024-01-09 13:00:00')"))


def _remind(engine: Engine, rule: str, key: str) -> None:
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO reminders_sent (ruta_id, rule, occurrence_key, day, summary, "
            "recipients, created_at) VALUES (1, :rule, :key, '2025-01-18', 'x', 'a@b.co', "
            "'2025-01-18 11:00:00')"), {"rule": rule, "key": key})


def _rules(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(
            text("SELECT rule FROM reminders_sent ORDER BY id"))]


def test_migration_0021_accepts_the_new_year_rule_and_downgrades_cleanly(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'recordatorios.db'}")
    try:
        upgrade(engine, "0018")
        _a_ruta(engine)
        _remind(engine, "corte_vencido", "corte-1")
        with pytest.raises(IntegrityError):
            _remind(engine, "seguimiento_anual", "anio-2025")

        upgrade(engine, "0021")
        _remind(engine, "seguimiento_anual", "anio-2025")
        with pytest.raises(IntegrityError):
            _remind(engine, "inventada", "x")
        assert _rules(engine) == ["corte_vencido", "seguimiento_anual"]

        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0018")
        assert _rules(engine) == ["corte_vencido"]
        with pytest.raises(IntegrityError):
            _remind(engine, "seguimiento_anual", "anio-2025")
    finally:
        engine.dispose()
