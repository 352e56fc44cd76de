"""Migration 0020 over today's data: reports already sent name the approved plan's version;
drafts follow the version in force; the new tables start empty."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from ruta.db import make_engine
from ruta.migrate import upgrade

STATEMENTS = (
    "INSERT INTO secretarias (id, name, divipola, horizon_start_year, horizon_years) "
    "VALUES (1, 'Secretaría de Educación de Ibagué', '73001', 2024, 3)",
    "INSERT INTO schools (id, secretaria_id, dane_code, name, zona, locality, active, "
    "created_at) VALUES (1, 1, '173001000001', 'IE San Simón', 'urbana', 'Comuna 2', true, :at)",
    "INSERT INTO rutas (id, school_id, horizon_start_year, horizon_end_year, state, "
    "state_changed_at, version, created_at) VALUES (1, 1, 2024, 2026, 'seguimiento', :at, 6, "
    ":at)",
    "INSERT INTO pmi_snapshots (id, ruta_id, number, created_at, content) VALUES "
    "(1, 1, 1, :at, '{}'), (2, 1, 2, :at, '{}')",
    "INSERT INTO calendars (id, secretaria_id, horizon_start_year, horizon_end_year, "
    "pmi_deadline, self_assessment_opens, self_assessment_closes, pmi_lead_days, "
    "returned_after_days, review_wait_days, checkpoint_lead_days, checkpoint_grace_days, "
    "updated_at) VALUES (1, 1, 2024, 2026, '2024-03-29', '2024-01-22', '2024-03-08', 7, 10, "
    "5, 7, 3, :at)",
    "INSERT INTO follow_up_checkpoints (id, calendar_id, name, due_on) VALUES "
    "(1, 1, 'Primer corte', '2024-06-28'), (2, 1, 'Segundo corte', '2024-11-29')",
    "INSERT INTO follow_up_reports (id, ruta_id, checkpoint_id, status, dificultades, "
    "submitted_at, submissions, acknowledgement, created_at, updated_at, version) VALUES "
    "(1, 1, 1, 'reconocido', '', :at, 1, '', :at, :at, 3), "
    "(2, 1, 2, 'borrador', '', NULL, 0, '', :at, :at, 1)",
)


def test_sent_reports_get_the_approved_version_and_drafts_stay_open(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ajustes.db'}")
    upgrade(engine, "0017")
    with engine.begin() as connection:
        for statement in STATEMENTS:
            connection.execute(text(statement), {"at": "2024-06-20 13:00:00"}
                               if ":at" in statement else {})

    upgrade(engine)

    with engine.connect() as connection:
        reports = connection.execute(text(
            "SELECT id, pmi_snapshot_id FROM follow_up_reports ORDER BY id")).all()
        adjustments = connection.execute(text("SELECT count(*) FROM plan_adjustments")).scalar()
    engine.dispose()
    assert [tuple(row) for row in reports] == [(1, 2), (2, None)]
    assert adjustments == 0
