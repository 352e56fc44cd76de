"""A Secretaría's horizons as data: opening the next one, the current one, what each lacks.

A horizon (2024–2026, 2027–2029, …) is a ``HorizonCalendar`` row: its years, the instrument
version (catalog) and rule set its Rutas open with, and its calendar, whose dates are entered
when known. Horizons never overlap and are never deleted: a past one stays readable.

The Secretaría's *current* horizon is ``Secretaria.horizon_start_year``: the one its pages show
by default and new Rutas open in. Opening a later horizon does not make it current; the daily
pass does, on the first day of its first year (``advance_current_horizons``), so the Secretaría
can prepare the next cycle (instrument, calendar, Rutas) during the last year of the running one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.catalogo.catalog import current_catalog_id, pin_rule_set
from workflow.catalogo.models import Catalog
from workflow.dates import BOGOTA
from workflow.errors import Forbidden, InvalidInput, NotFound
from workflow.horizontes.models import HorizonCalendar
from workflow.models import Secretaria, User, utcnow
from workflow.roles import Role

FIRST_YEAR, LAST_YEAR = 2000, 2100


def horizons_of(session: Session, secretaria_id: int) -> list[HorizonCalendar]:
    """Every horizon of the Secretaría, oldest first."""
    return list(session.scalars(select(HorizonCalendar).where(
        HorizonCalendar.secretaria_id == secretaria_id)
        .order_by(HorizonCalendar.horizon_start_year)))


def horizon_starting(session: Session, secretaria_id: int,
                     start_year: int) -> HorizonCalendar | None:
    return session.scalar(select(HorizonCalendar).where(
        HorizonCalendar.secretaria_id == secretaria_id,
        HorizonCalendar.horizon_start_year == start_year))


def current_horizon(session: Session, secretaria: Secretaria) -> HorizonCalendar | None:
    """The horizon the Secretaría's pages show by default (None before any was opened)."""
    return horizon_starting(session, secretaria.id, secretaria.horizon_start_year)


def chosen_horizon(session: Session, actor: User, start_year: int | None) -> HorizonCalendar:
    """The horizon a Secretaría-wide page shows: ``start_year``'s, or the current one.

    Raises ``NotFound`` for a year no horizon of the actor's Secretaría starts in.
    """
    secretaria = actor.secretaria
    if start_year is None:
        start_year = secretaria.horizon_start_year
    # Read from the list of every horizon, which the page's horizon selector reads too (the
    # same statement: a GET request reads it once).
    found = next((horizon for horizon in horizons_of(session, secretaria.id)
                  if horizon.horizon_start_year == start_year), None)
    if found is None and start_year == secretaria.horizon_start_year:
        found = ensure_horizon(session, secretaria, start_year,
                               start_year + secretaria.horizon_years - 1, actor=None)
    if found is None:
        raise NotFound("No hay un horizonte que empiece en ese año.")
    return found


def horizon_state(horizon: HorizonCalendar, secretaria: Secretaria) -> str:
    """«vigente», «terminado» or «próximo», as the horizon list says it."""
    if horizon.horizon_start_year == secretaria.horizon_start_year:
        return "vigente"
    if horizon.horizon_start_year < secretaria.horizon_start_year:
        return "terminado"
    return "próximo"


def _overlapping(session: Session, secretaria_id: int, start: int,
                 end: int) -> HorizonCalendar | None:
    return session.scalar(select(HorizonCalendar).where(
        HorizonCalendar.secretaria_id == secretaria_id,
        HorizonCalendar.horizon_start_year <= end,
        HorizonCalendar.horizon_end_year >= start).order_by(HorizonCalendar.horizon_start_year))


def _lock_secretaria(session: Session, secretaria: Secretaria) -> None:
    # Two administradores opening horizons at once: the second waits and then sees the first.
    session.execute(select(Secretaria.id).where(Secretaria.id == secretaria.id)
                    .with_for_update())


def ensure_horizon(session: Session, secretaria: Secretaria, start: int, end: int, *,
                   actor: User | None, catalog_id: int | None = None,
                   now: datetime | None = None) -> HorizonCalendar:
    """The horizon starting in ``start``, opened now when missing. Flushes.

    Raises ``InvalidInput`` when it would overlap another horizon.
    """
    found = horizon_starting(session, secretaria.id, start)
    if found is not None:
        return found
    if not FIRST_YEAR <= start <= end <= LAST_YEAR:
        raise InvalidInput({"start_year": [
            f"Escriba un año de inicio entre {FIRST_YEAR} y {LAST_YEAR - end + start}."]})
    _lock_secretaria(session, secretaria)
    clash = _overlapping(session, secretaria.id, start, end)
    if clash is not None:
        raise InvalidInput({"start_year": [
            f"El horizonte {start}–{end} se cruza con el horizonte {clash.horizon_label}: "
            "los horizontes de una Secretaría no pueden compartir años."]})
    moment = now or utcnow()
    horizon = HorizonCalendar(
        secretaria_id=secretaria.id, horizon_start_year=start, horizon_end_year=end,
        catalog_id=catalog_id if catalog_id is not None
        else current_catalog_id(session, secretaria.id),
        rule_set_id=pin_rule_set(session, secretaria.id), opened_at=moment,
        opened_by_id=None if actor is None else actor.id, updated_at=moment,
        updated_by_id=None if actor is None else actor.id)
    session.add(horizon)
    session.flush()
    return horizon


def open_horizon(session: Session, secretaria: Secretaria, start_text: str | int, *,
                 actor: User | None, catalog_id: int | None = None,
                 now: datetime | None = None) -> HorizonCalendar:
    """The administrador opens a horizon (usually the next one). Flushes.

    It lasts what the Secretaría's horizons last, is pinned to ``catalog_id`` (the current
    instrument by default) and to the current rule set, and starts with no dates. It does
    not become the current horizon before its first year starts.
    """
    if actor is not None and (actor.role is not Role.ADMINISTRADOR
                              or actor.secretaria_id != secretaria.id):
        raise Forbidden("Solo la administración de la Secretaría abre horizontes.")
    try:
        start = int(str(start_text).strip())
    except ValueError:
        raise InvalidInput({"start_year": [
            "Escriba el año en que empieza el horizonte, por ejemplo 2027."]}) from None
    end = start + secretaria.horizon_years - 1
    if horizon_starting(session, secretaria.id, start) is not None:
        raise InvalidInput({"start_year": [
            f"El horizonte {start}–{end} ya está abierto."]})
    if catalog_id is not None and session.get(Catalog, catalog_id) is None:
        raise InvalidInput({"catalog_id": ["Elija una versión del instrumento de la lista."]})
    return ensure_horizon(session, secretaria, start, end, actor=actor, catalog_id=catalog_id,
                          now=now)


def advance_current_horizons(session: Session, today: date) -> list[HorizonCalendar]:
    """Make current, in every Secretaría, the latest horizon that has started by ``today``.

    Returns the horizons that became current. Flushes; the daily pass commits.
    """
    advanced = []
    for secretaria in session.scalars(select(Secretaria).order_by(Secretaria.id)):
        latest = session.scalar(select(HorizonCalendar).where(
            HorizonCalendar.secretaria_id == secretaria.id,
            HorizonCalendar.horizon_start_year <= today.year)
            .order_by(HorizonCalendar.horizon_start_year.desc()).limit(1))
        if latest is None or latest.horizon_start_year <= secretaria.horizon_start_year:
            continue
        secretaria.horizon_start_year = latest.horizon_start_year
        secretaria.horizon_years = latest.horizon_end_year - latest.horizon_start_year + 1
        advanced.append(latest)
    session.flush()
    return advanced


# --- deadlines of one school --------------------------------------------------------------


def bogota_day(moment: datetime) -> date:
    return moment.astimezone(BOGOTA).date()


def school_pmi_deadline(horizon: HorizonCalendar, *, opened_at: datetime | None,
                        activated_at: datetime | None) -> date | None:
    """The day ``horizon`` expects a school's PMI by.

    The horizon's deadline, unless the school joined later: a school whose Ruta opened, or
    whose rector activated the account, after ``late_join_grace_days`` before that deadline
    gets ``late_join_grace_days`` from the later of the two. None while the horizon has no
    deadline yet, or the school has no activated rector yet and joined late.
    """
    deadline = horizon.pmi_deadline
    if deadline is None:
        return None
    grace = timedelta(days=horizon.late_join_grace_days)
    joined = max((bogota_day(moment) for moment in (opened_at, activated_at)
                  if moment is not None), default=None)
    if joined is None or joined + grace <= deadline:
        return deadline
    if activated_at is None:
        return None  # joined late and nobody can act yet: the grace starts at activation
    return joined + grace


# --- what a horizon's calendar lacks ------------------------------------------------------


@dataclass(frozen=True)
class MissingDates:
    """One year of a horizon without the dates its reminders need."""

    year: int
    missing: tuple[str, ...]  # in Spanish: «la primera semana institucional», …
    since: date  # the horizon has lacked them since it was opened
    started: bool  # the year has begun: its reminders are not being sent

    @property
    def sentence(self) -> str:
        what = " y ".join(self.missing) if len(self.missing) <= 2 else (
            ", ".join(self.missing[:-1]) + " y " + self.missing[-1])
        return f"{self.year}: falta {what}."


def missing_dates(horizon: HorizonCalendar, today: date) -> list[MissingDates]:
    """The years of ``horizon`` whose calendar is incomplete, with what each lacks."""
    since = bogota_day(horizon.opened_at) if horizon.opened_at else today
    found = []
    for year in horizon.years:
        missing = []
        if horizon.first_week_end(year) is None:
            missing.append("la primera semana institucional")
        if year == horizon.horizon_start_year:
            if horizon.pmi_deadline is None:
                missing.append("la fecha límite del PMI")
            if horizon.self_assessment_opens is None or horizon.self_assessment_closes is None:
                missing.append("la ventana de la autoevaluación")
        if not horizon.checkpoints_of(year):
            missing.append("los cortes de seguimiento")
        if missing:
            found.append(MissingDates(year=year, missing=tuple(missing), since=since,
                                      started=today >= date(year, 1, 1)))
    return found
