"""Horizons as data: opening the next one, overlaps refused, the current one advancing, the
deadline of a school that joins late, what a horizon's calendar lacks, today's data migrated."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from demo.calendario import seed_demo_calendar
from tests.conftest import Factory
from workflow.catalogo.catalog import load_shipped_catalogs, set_current_catalog
from workflow.errors import Forbidden, InvalidInput, NotFound
from workflow.horizontes import opening
from workflow.horizontes.horizons import (
    advance_current_horizons,
    chosen_horizon,
    horizon_state,
    horizons_of,
    missing_dates,
    open_horizon,
    school_pmi_deadline,
)
from workflow.horizontes.models import HorizonCalendar
from workflow.roles import Role


def test_open_horizon_pins_the_chosen_instrument_and_stays_next_until_its_year(
        db: Session, make: Factory) -> None:
    old, new = load_shipped_catalogs(db)
    admin = make.user(Role.ADMINISTRADOR)
    running = opening.open_ruta(db, make.school(), actor=admin)
    following = open_horizon(db, admin.secretaria, "2027", actor=admin, catalog_id=new.id,
                             now=datetime(2026, 9, 1, 15, 0, tzinfo=UTC))
    db.commit()
    assert [(h.horizon_label, h.catalog_id) for h in horizons_of(db, admin.secretaria_id)] == [
        ("2024–2026", old.id), ("2027–2029", new.id)]
    assert following.opened_by_id == admin.id and following.rule_set_id is not None
    assert (horizon_state(following, admin.secretaria),
            horizon_state(chosen_horizon(db, admin, None), admin.secretaria)) == (
        "próximo", "vigente")
    assert running.catalog_id == old.id  # the running horizon keeps its instrument


@pytest.mark.parametrize(("start", "message"), [
    ("2025", "El horizonte 2025–2027 se cruza con el horizonte 2024–2026: los horizontes de "
             "una Secretaría no pueden compartir años."),
    ("2022", "El horizonte 2022–2024 se cruza con el horizonte 2024–2026: los horizontes de "
             "una Secretaría no pueden compartir años."),
    ("2024", "El horizonte 2024–2026 ya está abierto."),
    ("dos mil veintisiete", "Escriba el año en que empieza el horizonte, por ejemplo 2027."),
    ("1990", "Escriba un año de inicio entre 2000 y 2098."),
])
def test_open_horizon_bad_input_is_refused_in_spanish_and_opens_nothing(
        db: Session, make: Factory, start: str, message: str) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    opening.open_ruta(db, make.school(), actor=admin)
    db.commit()
    with pytest.raises(InvalidInput) as refused:
        open_horizon(db, admin.secretaria, start, actor=admin)
    db.rollback()
    assert refused.value.errors == {"start_year": [message]}
    assert db.scalar(select(func.count()).select_from(HorizonCalendar)) == 1


def test_only_the_secretarias_administrador_opens_a_horizon(db: Session, make: Factory) -> None:
    reviewer = make.user(Role.REVISOR)
    other = make.user(Role.ADMINISTRADOR,
                      secretaria=make.secretaria(name="Secretaría del Tolima", divipola="73"))
    for actor in (reviewer, other):
        with pytest.raises(Forbidden):
            open_horizon(db, reviewer.secretaria, "2027", actor=actor)
    assert db.scalar(select(func.count()).select_from(HorizonCalendar)) == 0


def test_chosen_horizon_unknown_year_is_not_found(db: Session, make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    with pytest.raises(NotFound, match="No hay un horizonte que empiece en ese año."):
        chosen_horizon(db, admin, 2030)
    assert chosen_horizon(db, admin, None).horizon_label == "2024–2026"


def test_the_daily_pass_makes_the_next_horizon_current_on_its_first_year(
        db: Session, make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    opening.open_ruta(db, make.school(), actor=admin)
    open_horizon(db, admin.secretaria, "2027", actor=admin)
    assert advance_current_horizons(db, date(2026, 12, 31)) == []
    assert admin.secretaria.horizon_start_year == 2024
    advanced = advance_current_horizons(db, date(2027, 1, 1))
    assert [h.horizon_label for h in advanced] == ["2027–2029"]
    assert (admin.secretaria.horizon_start_year, admin.secretaria.horizon_end_year) == (
        2027, 2029)
    assert advance_current_horizons(db, date(2027, 1, 2)) == []
    # New Rutas now open in the new horizon.
    assert opening.open_ruta(db, make.school(), actor=admin).horizon_label == "2027–2029"


def test_switching_the_current_instrument_leaves_the_running_horizon_alone(
        db: Session, make: Factory) -> None:
    old, new = load_shipped_catalogs(db)
    admin = make.user(Role.ADMINISTRADOR)
    opening.open_ruta(db, make.school(), actor=admin)
    set_current_catalog(db, new, actor=admin)
    late = opening.open_ruta(db, make.school(), actor=admin)
    assert chosen_horizon(db, admin, 2024).catalog_id == old.id
    assert late.catalog_id == old.id


def _horizon(deadline: date | None = date(2024, 2, 16), grace: int = 30) -> HorizonCalendar:
    return HorizonCalendar(horizon_start_year=2024, horizon_end_year=2026,
                           pmi_deadline=deadline, late_join_grace_days=grace)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(("opened", "activated", "expected"), [
    (date(2024, 1, 9), date(2024, 1, 10), date(2024, 2, 16)),  # from the start
    (date(2024, 1, 9), None, date(2024, 2, 16)),  # early, rector still to activate
    (date(2025, 5, 2), date(2025, 6, 10), date(2025, 7, 10)),  # joined late: 30 days
    (date(2025, 5, 2), None, None),  # joined late, nobody can act yet
    (date(2024, 1, 30), date(2024, 1, 31), date(2024, 3, 1)),  # 30 days run past the date
])
def test_a_school_that_joins_late_gets_its_own_deadline(
        opened: date, activated: date | None, expected: date | None) -> None:
    assert school_pmi_deadline(_horizon(), opened_at=_at(opened),
                               activated_at=_at(activated) if activated else None) == expected


def test_no_deadline_until_the_horizon_has_one() -> None:
    assert school_pmi_deadline(_horizon(deadline=None), opened_at=_at(date(2024, 1, 9)),
                               activated_at=_at(date(2024, 1, 9))) is None


def test_missing_dates_say_what_each_year_lacks_and_since_when(
        db: Session, make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    following = open_horizon(db, admin.secretaria, "2027", actor=admin,
                             now=datetime(2026, 9, 1, 15, 0, tzinfo=UTC))
    missing = missing_dates(following, date(2027, 1, 5))
    assert [(item.year, item.started) for item in missing] == [
        (2027, True), (2028, False), (2029, False)]
    assert missing[0].sentence == (
        "2027: falta la primera semana institucional, la fecha límite del PMI, la ventana de "
        "la autoevaluación y los cortes de seguimiento.")
    assert missing[1].sentence == (
        "2028: falta la primera semana institucional y los cortes de seguimiento.")
    assert missing[0].since == date(2026, 9, 1)
    complete = seed_demo_calendar(db, admin.secretaria, actor=admin)
    assert missing_dates(complete, date(2026, 1, 5)) == []


def test_migration_gives_todays_data_its_horizons(tmp_path: Path) -> None:
    """The existing Secretaría gets its current horizon (with its calendar) and the past
    horizons its Rutas ran in, pinned to the instrument its Rutas use."""
    from ruta.db import make_engine
    from ruta.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'horizontes.db'}")
    upgrade(engine, "0017")
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO secretarias (id, name, divipola, horizon_start_year, horizon_years) "
            "VALUES (1, 'Secretaría de Educación de Ibagué', '73001', 2024, 3)",
            "INSERT INTO catalogs (id, slug, title, year, scale, source, created_at) "
            "VALUES (7, 'guia34-2008', 'Guía 34', 2008, '[]', 'x', '2023-01-01 00:00:00')",
            "INSERT INTO schools (id, secretaria_id, dane_code, name, zona, locality, active, "
            "created_at) VALUES (1, 1, '173001000001', 'IE San Simón', 'urbana', 'Comuna 2', "
            "true, '2021-01-09 13:00:00')",
            "INSERT INTO rutas (id, school_id, horizon_start_year, horizon_end_year, state, "
            "state_changed_at, version, created_at, catalog_id) VALUES (1, 1, 2021, 2023, "
            "'cerrado', '2023-11-20 13:00:00', 9, '2021-01-09 13:00:00', 7)",
            "INSERT INTO rutas (id, school_id, horizon_start_year, horizon_end_year, state, "
            "state_changed_at, version, created_at, catalog_id) VALUES (2, 1, 2024, 2026, "
            "'seguimiento', '2024-04-01 13:00:00', 6, '2024-01-09 13:00:00', 7)",
            "INSERT INTO calendars (id, secretaria_id, horizon_start_year, horizon_end_year, "
            "pmi_deadline, self_assessment_opens, self_assessment_closes, pmi_lead_days, "
            "returned_after_days, review_wait_days, checkpoint_lead_days, "
            "checkpoint_grace_days, updated_at) VALUES (3, 1, 2024, 2026, '2024-02-16', "
            "'2023-10-02', '2024-02-02', 7, 10, 5, 7, 3, '2023-12-01 12:00:00')",
            "INSERT INTO users (id, secretaria_id, email, name, role, active, password_hash, "
            "must_change_password, created_at) VALUES (1, 1, 'admin@ibague.gov.co', 'Admin', "
            "'administrador', true, 'x', false, '2023-01-01 00:00:00')",
            "INSERT INTO users (id, secretaria_id, email, name, role, active, password_hash, "
            "must_change_password, created_at) VALUES (2, 1, 'nuevo@ibague.gov.co', 'Nuevo', "
            "'revisor', true, NULL, false, '2023-01-01 00:00:00')",
        ):
            connection.execute(text(statement))
    upgrade(engine)
    with engine.connect() as connection:
        horizons = connection.execute(text(
            "SELECT horizon_start_year, horizon_end_year, catalog_id, pmi_deadline, "
            "late_join_grace_days, opened_at IS NOT NULL FROM calendars "
            "ORDER BY horizon_start_year")).all()
        activated = connection.execute(text(
            "SELECT id, activated_at IS NOT NULL FROM users ORDER BY id")).all()
    engine.dispose()
    assert [tuple(row) for row in horizons] == [
        (2021, 2023, 7, None, 30, 1), (2024, 2026, 7, "2024-02-16", 30, 1)]
    assert [tuple(row) for row in activated] == [(1, 1), (2, 0)]
