"""The demo's horizons besides the running 2024–2026: a closed 2021–2023 with its calendar,
and 2027–2029 opened ahead on guia34-2026, with its first year's dates only.

Everything goes through the services the administrador uses (``save_calendar``,
``open_horizon``, ``open_next_ruta``), so every Secretaría-wide view shows more than one
horizon: the calendar lists what 2028 and 2029 still lack, the consolidado switches between
horizons each with its own instrument, and the school that closed its Ruta 2024–2026 starts
2027–2029 on the new instrument, its perfil compared with the previous one through the
crosswalk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from demo.autoevaluacion import fill_demo_autoevaluacion, school_team_account
from workflow.catalogo.models import Catalog
from workflow.cierre.evaluacion_final import open_next_ruta
from workflow.horizontes.calendar import (
    LEAD_TIME_DEFAULTS,
    CalendarData,
    CheckpointData,
    add_checkpoint,
    save_calendar,
)
from workflow.horizontes.horizons import open_horizon
from workflow.horizontes.models import HorizonCalendar
from workflow.models import Ruta, School, Secretaria, User
from workflow.roles import Role
from workflow.states import State

NEXT_INSTRUMENT: Final = "guia34-2026"

PREVIOUS_CHECKPOINTS: Final = (
    ("Seguimiento 1er semestre 2021", "2021-06-25"),
    ("Seguimiento 2.º semestre 2021", "2021-11-26"),
    ("Seguimiento 1er semestre 2022", "2022-06-24"),
    ("Seguimiento 2.º semestre 2022", "2022-11-25"),
    ("Seguimiento 1er semestre 2023", "2023-06-23"),
)
NEXT_CHECKPOINTS: Final = (
    ("Seguimiento 1er semestre 2027", "2027-06-25"),
    ("Seguimiento 2.º semestre 2027", "2027-11-26"),
)


def _leads() -> dict[str, str]:
    return {name: str(value) for name, value in LEAD_TIME_DEFAULTS.items()}


def seed_previous_calendar(session: Session, secretaria: Secretaria,
                           admin: User) -> HorizonCalendar:
    """The calendar 2021–2023 the closed Ruta ran under (its horizon opened with that Ruta)."""
    calendar = save_calendar(
        session, secretaria=secretaria, horizon_start_year=2021, horizon_end_year=2023,
        actor=admin, now=datetime(2020, 11, 20, 15, 0, tzinfo=UTC),
        data=CalendarData(first_weeks={2021: "2021-01-15", 2022: "2022-01-14",
                                       2023: "2023-01-20"},
                          pmi_deadline="2021-03-12", self_assessment_opens="2020-10-01",
                          self_assessment_closes="2021-02-26", lead_times=_leads()))
    for name, due_on in PREVIOUS_CHECKPOINTS:
        add_checkpoint(session, calendar, CheckpointData(name=name, due_on=due_on))
    return calendar


def open_next_horizon(session: Session, secretaria: Secretaria,
                      admin: User) -> HorizonCalendar:
    """2027–2029 on guia34-2026, opened in September 2026 with its first year's dates: the
    calendars of 2028 and 2029 are not published yet."""
    catalog = session.scalar(select(Catalog).where(Catalog.slug == NEXT_INSTRUMENT))
    horizon = open_horizon(session, secretaria, 2027, actor=admin,
                           catalog_id=None if catalog is None else catalog.id,
                           now=datetime(2026, 9, 15, 14, 0, tzinfo=UTC))
    save_calendar(
        session, secretaria=secretaria, horizon_start_year=2027, horizon_end_year=2029,
        actor=admin, now=datetime(2026, 9, 15, 14, 30, tzinfo=UTC),
        data=CalendarData(first_weeks={2027: "2027-01-22"}, pmi_deadline="2027-02-26",
                          self_assessment_opens="2026-10-05",
                          self_assessment_closes="2027-02-12", lead_times=_leads()))
    for name, due_on in NEXT_CHECKPOINTS:
        add_checkpoint(session, horizon, CheckpointData(name=name, due_on=due_on))
    return horizon


def start_next_cycle(session: Session, secretaria: Secretaria, admin: User) -> Ruta | None:
    """The first school that closed its Ruta 2024–2026 opens 2027–2029 and rates it."""
    closed = session.scalar(
        select(Ruta).join(Ruta.school).where(School.secretaria_id == secretaria.id,
                                             Ruta.horizon_start_year == 2024,
                                             Ruta.state == State.CERRADO)
        .order_by(Ruta.id).limit(1))
    if closed is None:
        return None
    opened_at = datetime(2026, 10, 14, 13, 0, tzinfo=UTC)
    ruta = open_next_ruta(session, closed, actor=admin, now=opened_at)
    rector = session.scalar(select(User).where(User.school_id == closed.school_id,
                                               User.role == Role.RECTOR, User.active))
    team_user = school_team_account(session, closed.school_id)
    if rector is not None and team_user is not None:
        fill_demo_autoevaluacion(session, ruta, rector=rector, team_user=team_user,
                                 complete=True, start=opened_at)
    return ruta


def seed_demo_horizons(session: Session, secretaria: Secretaria, admin: User) -> None:
    """The closed horizon's calendar, the next horizon and its first Ruta. Flushes."""
    seed_previous_calendar(session, secretaria, admin)
    open_next_horizon(session, secretaria, admin)
    start_next_cycle(session, secretaria, admin)
    session.flush()
