"""Prórrogas for the demo: its Rutas still to send their autoevaluación may send it today.

The demo's calendar keeps Ibagué's real window (2 October 2023 – 2 February 2024), long closed
when the demo is used. A school that starts its Ruta with the demo would find the sending
refused; the administración gives it, as it would to any school, a prórroga with a reason,
through the same service (``workflow.autoevaluacion.window.extend_window``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.autoevaluacion.window import (
    extend_window,
    held_to_window,
    today_in_bogota,
    window_for,
)
from workflow.horizontes.models import SelfAssessmentExtension
from workflow.models import Ruta, School, Secretaria, User
from workflow.roles import Role
from workflow.states import State

DEMO_REASON: Final = "Colegio que inicia su Ruta con la demostración"
# How long the demo's prórroga lasts, at most (never past the end of the horizon).
DEMO_EXTENSION_DAYS: Final = 90


def grant_demo_extensions(session: Session, secretaria: Secretaria,
                          now: datetime) -> list[SelfAssessmentExtension]:
    """A prórroga for every Ruta of ``secretaria`` that would be refused its first sending on
    ``now``'s day. Flushes. Returns the prórrogas granted (none when the horizon has ended or
    no Ruta needs one)."""
    admin = session.scalar(select(User).where(
        User.secretaria_id == secretaria.id, User.role == Role.ADMINISTRADOR, User.active)
        .order_by(User.id).limit(1))
    if admin is None:
        return []
    today = today_in_bogota(now)
    granted = []
    rutas = session.scalars(select(Ruta).join(Ruta.school).where(
        School.secretaria_id == secretaria.id, Ruta.state == State.BORRADOR)
        .order_by(Ruta.id))
    for ruta in rutas:
        if not held_to_window(session, ruta):
            continue  # returned by the Secretaría: it may send again without one
        window = window_for(session, ruta)
        if window.refusal(today) is None or window.opens is None or window.opens > today:
            continue  # open today, without dates, or not open yet
        until = min(today + timedelta(days=DEMO_EXTENSION_DAYS),
                    date(ruta.horizon_end_year, 12, 31))
        if until <= today:
            continue  # the horizon ends today: there is nothing left to extend
        granted.append(extend_window(session, ruta, until.isoformat(), DEMO_REASON,
                                     actor=admin, now=now))
    return granted
