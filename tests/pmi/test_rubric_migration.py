"""Migration 0013 over a database whose Rutas were returned and approved without a rubric."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ruta.db import make_engine
from ruta.migrate import upgrade
from workflow.models import Ruta
from workflow.pmi import rubric as rubrics
from workflow.pmi import versions as pmi_versions
from workflow.states import State

BEFORE = "0012"  # the revision migration 0013 follows


def test_returned_and_approved_rutas_upgrade_and_keep_working(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'antes.db'}")
    upgrade(engine, BEFORE)
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO secretarias (id, name, divipola, horizon_start_year, horizon_years) "
            "VALUES (1, 'Secretaría de Educación de Ibagué', '73001', 2024, 3)",
            "INSERT INTO schools (id, secretaria_id, dane_code, name, zona, locality, active, "
            "created_at) VALUES (1, 1, '173001000001', 'IE San Simón', 'urbana', 'Comuna 2', "
            "true, '2024-01-09 13:00:00'), (2, 1, '173001000002', 'IE Juntas', 'rural', "
            "'Corregimiento Juntas', true, '2024-01-09 13:00:00')",
            "INSERT INTO users (id, secretaria_id, email, name, role, active, created_at) "
            "VALUES (1, 1, 'revisora@ibague.gov.co', 'Revisora', 'revisor', true, "
            "'2024-01-09 13:00:00')",
            "INSERT INTO rutas (id, school_id, horizon_start_year, horizon_end_year, state, "
            "state_changed_at, version, created_at) VALUES "
            "(1, 1, 2024, 2026, 'autoevaluacion_enviada', '2024-03-20 13:00:00', 5, "
            "'2024-01-09 13:00:00'), "
            "(2, 2, 2024, 2026, 'aprobado', '2024-03-22 13:00:00', 5, '2024-01-09 13:00:00')",
            "INSERT INTO pmi_snapshots (id, ruta_id, number, created_at, content) VALUES "
            "(1, 1, 1, '2024-03-01 13:00:00', '{}'), (2, 2, 1, '2024-03-01 13:00:00', '{}')",
            "INSERT INTO ruta_transitions (id, ruta_id, trigger, from_state, to_state, "
            "actor_id, at, observations, extra) VALUES "
            "(1, 1, 'devolver', 'en_revision', 'autoevaluacion_enviada', 1, "
            "'2024-03-20 13:00:00', 'Corrijan la meta 1.', '{\"snapshot_id\": 1}'), "
            "(2, 2, 'aprobar', 'en_revision', 'aprobado', 1, '2024-03-22 13:00:00', NULL, "
            "'{\"snapshot_id\": 2}')",
        ):
            connection.execute(text(statement))

    upgrade(engine)

    with Session(engine) as session:
        returned, approved = session.get(Ruta, 1), session.get(Ruta, 2)
        assert returned is not None and approved is not None
        assert (returned.state, approved.state) == (State.AUTOEVALUACION_ENVIADA,
                                                    State.APROBADO)
        # Decided before the rubric existed: no rubric, and the pages' queries still work.
        assert rubrics.rounds(session, returned) == []
        assert rubrics.approved_round(session, approved) is None
        approval = pmi_versions.approval(session, approved)
        assert approval is not None and approval.entry.id == 2
        assert session.execute(text("SELECT count(*) FROM pmi_rubric_verdicts")).scalar() == 0

    # The new table's rules hold on the upgraded database.
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO pmi_rubric_verdicts (ruta_id, transition_id, snapshot_id, round, "
            "decision, criterion, verdict, note, author_id, decided_at) VALUES "
            "(1, 1, 1, 1, 'devuelto', 3, 'no_cumple', 'Sin unidad.', 1, "
            "'2024-03-20 13:00:00')"))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO pmi_rubric_verdicts (ruta_id, transition_id, snapshot_id, round, "
            "decision, criterion, verdict, note, author_id, decided_at) VALUES "
            "(1, 1, 1, 1, 'devuelto', 4, 'no_cumple', '  ', 1, '2024-03-20 13:00:00')"))
    with engine.connect() as connection:
        assert connection.execute(
            text("SELECT criterion, verdict FROM pmi_rubric_verdicts")).all() == [
            (3, "no_cumple")]
    engine.dispose()
