"""Opening a school's Ruta for a horizon, pinned to the Secretaría's current instrument.

The administración opens Rutas: one at a time, every missing one for the current horizon, or
the next cycle's from a closed Ruta (``workflow.cierre.evaluacion_final.open_next_ruta``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.catalogo.catalog import current_catalog_id, pin_rule_set
from workflow.errors import Forbidden
from workflow.horizontes.horizons import ensure_horizon
from workflow.models import OPENED, Ruta, RutaTransition, School, User, utcnow
from workflow.roles import Role
from workflow.states import State


def open_ruta(session: Session, school: School, *, actor: User | None,
              start_year: int | None = None, years: int | None = None,
              now: datetime | None = None) -> Ruta:
    """Open the school's Ruta for a horizon (the Secretaría's current one by default).

    Changes: a new Ruta in ``borrador``; appends its opening row to the history.
    Returns the existing Ruta when the school already has one for that horizon.
    """
    if actor is not None and actor.role is not Role.ADMINISTRADOR:
        raise Forbidden("Solo la administración de la Secretaría abre Rutas.")
    start = start_year if start_year is not None else school.secretaria.horizon_start_year
    length = years if years is not None else school.secretaria.horizon_years
    existing = session.scalar(select(Ruta).where(Ruta.school_id == school.id,
                                                 Ruta.horizon_start_year == start))
    if existing is not None:
        return existing
    moment = now or utcnow()
    # The horizon is data: a Ruta for a horizon nobody opened yet opens it (with the current
    # instrument), so its calendar, reminders and consolidado exist from the first Ruta.
    horizon = ensure_horizon(session, school.secretaria, start, start + length - 1,
                             actor=actor, now=moment)
    if horizon.catalog_id is None:
        # Opened before any instrument was loaded: it takes the first one made current.
        horizon.catalog_id = current_catalog_id(session, school.secretaria_id)
    ruta = Ruta(school=school, horizon_start_year=start,
                horizon_end_year=horizon.horizon_end_year,
                state=State.BORRADOR, state_changed_at=moment, created_at=moment,
                # Pinned: the horizon's instrument; a later change of the Secretaría's
                # current instrument never alters this Ruta.
                catalog_id=horizon.catalog_id,
                # Pinned too: a later change of the Secretaría's rules never moves its results.
                rule_set_id=pin_rule_set(session, school.secretaria_id))
    # The horizon records the rule set its Rutas open with (a change of rules applies to the
    # Rutas opened afterwards, as the rule-set page says).
    horizon.rule_set_id = ruta.rule_set_id  # type: ignore[attr-defined]
    session.add(ruta)
    session.add(RutaTransition(ruta=ruta, trigger=OPENED, from_state=None,
                               to_state=State.BORRADOR, at=moment,
                               actor_id=None if actor is None else actor.id))
    session.flush()
    return ruta


def open_missing_rutas(session: Session, schools: Iterable[School], *,
                       actor: User | None) -> list[Ruta]:
    """Open the current-horizon Ruta of every active school that lacks one."""
    opened = []
    for school in schools:
        if not school.active:
            continue
        start = school.secretaria.horizon_start_year
        has_one = any(ruta.horizon_start_year == start for ruta in school.rutas)
        if not has_one:
            opened.append(open_ruta(session, school, actor=actor))
    return opened
