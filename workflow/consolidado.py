"""The Secretaría's consolidated view: where every school's Ruta is, and the municipal perfil.

Pure queries over what ``scoped`` lets the actor see, for the Secretaría's current horizon,
optionally narrowed to one zona and one comuna (or corregimiento). The municipal perfil pools
the valoraciones of submitted autoevaluaciones made with the Secretaría's current catalog
only: levels of different versions of the instrument are not comparable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflow import charts
from workflow.autoevaluacion import Perfil, Rated, Valoracion, compute_perfil
from workflow.calendar import ReminderSent, calendar_for
from workflow.catalog import Catalog, current_catalog
from workflow.models import Ruta, School, Secretaria, User, Zona
from workflow.reminders import PMI_OWED, bogota_day
from workflow.scoping import scoped
from workflow.states import STATE_ORDER, State

# The autoevaluación of a Ruta in these states has been sent (and not returned to editing).
SUBMITTED_STATES = frozenset(STATE_ORDER) - {State.BORRADOR}
LOW_LEVELS = (1, 2)
TOP_LOW_RATED = 10
# Shown until the seguimiento reports exist (issue 6): no number is better than a made-up one.
SEGUIMIENTO_PENDING = "—"


@dataclass(frozen=True)
class Filters:
    zona: Zona | None = None
    comuna: str | None = None

    @classmethod
    def parse(cls, zona: str | None, comuna: str | None) -> Filters:
        """From query parameters; anything unknown means "no filter" (a list, not a form)."""
        chosen = next((item for item in Zona if item.value == (zona or "").strip()), None)
        return cls(chosen, (comuna or "").strip()[:120] or None)

    def as_query(self) -> dict[str, str]:
        query = {}
        if self.zona is not None:
            query["zona"] = self.zona.value
        if self.comuna:
            query["comuna"] = self.comuna
        return query


@dataclass(frozen=True)
class SchoolRow:
    school: School
    ruta: Ruta | None
    days_in_state: int | None
    last_reminder: ReminderSent | None
    overdue: bool
    stalled: bool
    seguimiento: str = SEGUIMIENTO_PENDING


@dataclass(frozen=True)
class LowRated:
    code: str
    name: str
    area_name: str
    count: int
    rated: int


@dataclass(frozen=True)
class Consolidado:
    horizon_start_year: int
    filters: Filters
    funnel: list[tuple[State, int]]
    schools: list[SchoolRow]
    overdue: list[SchoolRow]
    stalled: list[SchoolRow]
    catalog: Catalog | None
    perfil: Perfil | None
    perfil_schools: int
    low_rated: list[LowRated]
    comunas: list[str]
    pmi_deadline: date | None
    stalled_days: int

    @property
    def total_rutas(self) -> int:
        return sum(count for _, count in self.funnel)


def _schools(session: Session, actor: User, filters: Filters) -> list[School]:
    statement = scoped(actor, School).where(School.active.is_(True))
    if filters.zona is not None:
        statement = statement.where(School.zona == filters.zona)
    if filters.comuna:
        statement = statement.where(School.locality == filters.comuna)
    return list(session.scalars(statement.order_by(School.name, School.id)))


def _rutas(session: Session, actor: User, school_ids: Sequence[int],
           horizon_start_year: int) -> dict[int, Ruta]:
    if not school_ids:
        return {}
    found = session.scalars(scoped(actor, Ruta).where(
        Ruta.school_id.in_(school_ids), Ruta.horizon_start_year == horizon_start_year))
    return {ruta.school_id: ruta for ruta in found}


def _last_reminders(session: Session, ruta_ids: Sequence[int]) -> dict[int, ReminderSent]:
    if not ruta_ids:
        return {}
    latest = (select(ReminderSent.ruta_id, func.max(ReminderSent.id).label("last_id"))
              .where(ReminderSent.ruta_id.in_(ruta_ids)).group_by(ReminderSent.ruta_id)
              .subquery())
    rows = session.scalars(select(ReminderSent).join(latest, latest.c.last_id == ReminderSent.id))
    return {row.ruta_id: row for row in rows}


def comunas_of(session: Session, actor: User, zona: Zona | None = None) -> list[str]:
    statement = scoped(actor, School).with_only_columns(School.locality).distinct()
    if zona is not None:
        statement = statement.where(School.zona == zona)
    return sorted(session.scalars(statement))


def municipal_perfil(session: Session, rutas: Sequence[Ruta],
                     catalog: Catalog | None) -> tuple[Perfil | None, int, list[LowRated]]:
    """The perfil pooled over ``rutas`` that were sent with ``catalog``: every valoración
    counts once. Also the componentes most often rated 1–2."""
    if catalog is None:
        return None, 0, []
    pooled = [ruta for ruta in rutas if ruta.state in SUBMITTED_STATES
              and getattr(ruta, "catalog_id", None) == catalog.id]
    if not pooled:
        return None, 0, []
    levels: dict[tuple[int, int], int | None] = {
        (ruta_id, componente_id): level for ruta_id, componente_id, level in session.execute(
            select(Valoracion.ruta_id, Valoracion.componente_id, Valoracion.level)
            .where(Valoracion.ruta_id.in_([ruta.id for ruta in pooled])))}
    items: list[Rated] = []
    low: Counter[int] = Counter()
    rated: Counter[int] = Counter()
    for ruta in pooled:
        for area in catalog.areas:
            for proceso in area.procesos:
                for componente in proceso.componentes:
                    level = levels.get((ruta.id, componente.id))
                    items.append(Rated(area.code, area.name, proceso.code, proceso.name,
                                       componente.code, componente.name, level, componente.id))
                    if level is not None:
                        rated[componente.id] += 1
                        if level in LOW_LEVELS:
                            low[componente.id] += 1
    by_id = {componente.id: (componente, area) for area in catalog.areas
             for componente in area.componentes}
    order = {componente_id: index for index, componente_id in enumerate(by_id)}
    # Ties keep the order of the instrument.
    ranking = sorted(low.items(), key=lambda pair: (-pair[1], order[pair[0]]))
    low_rated = [LowRated(by_id[cid][0].code, by_id[cid][0].name, by_id[cid][1].name, count,
                          rated[cid]) for cid, count in ranking[:TOP_LOW_RATED]]
    return compute_perfil(items), len(pooled), low_rated


def consolidate(session: Session, actor: User, filters: Filters, *, now: datetime,
                stalled_days: int) -> Consolidado:
    """Everything the consolidated page (and the export) shows, for ``actor``'s Secretaría."""
    secretaria = session.get(Secretaria, actor.secretaria_id)
    assert secretaria is not None
    horizon = secretaria.horizon_start_year
    today = bogota_day(now)
    calendar = calendar_for(session, secretaria.id, horizon)
    deadline = calendar.pmi_deadline if calendar is not None else None
    schools = _schools(session, actor, filters)
    rutas = _rutas(session, actor, [school.id for school in schools], horizon)
    reminders = _last_reminders(session, [ruta.id for ruta in rutas.values()])
    rows = []
    for school in schools:
        ruta = rutas.get(school.id)
        if ruta is None:
            rows.append(SchoolRow(school, None, None, None, False, False))
            continue
        days = (today - bogota_day(ruta.state_changed_at)).days
        overdue = deadline is not None and today > deadline and ruta.state in PMI_OWED
        stalled = ruta.state is not State.CERRADO and now - ruta.state_changed_at > timedelta(
            days=stalled_days)
        rows.append(SchoolRow(school, ruta, days, reminders.get(ruta.id), overdue, stalled))
    counts = Counter(ruta.state for ruta in rutas.values())
    catalog = current_catalog(session, secretaria.id)
    perfil, perfil_schools, low_rated = municipal_perfil(
        session, [rutas[school.id] for school in schools if school.id in rutas], catalog)
    return Consolidado(
        horizon_start_year=horizon, filters=filters,
        funnel=[(state, counts.get(state, 0)) for state in STATE_ORDER],
        schools=rows, overdue=[row for row in rows if row.overdue],
        stalled=[row for row in rows if row.stalled], catalog=catalog, perfil=perfil,
        perfil_schools=perfil_schools, low_rated=low_rated,
        comunas=comunas_of(session, actor, filters.zona), pmi_deadline=deadline,
        stalled_days=stalled_days)


# --- the funnel chart ---------------------------------------------------------------------


def funnel_chart(funnel: Sequence[tuple[State, int]]) -> str:
    """Horizontal bars, one per state in the order of the Ruta, centred like a funnel."""
    most = max((count for _, count in funnel), default=0) or 1
    scale = charts.PLOT_WIDTH / most
    height = charts.TOP + charts.ROW * len(funnel) + 20
    body = [charts._text(charts.PLOT_LEFT - 10, 20, "Rutas en cada estado", anchor="end",
                         size=12, fill=charts.MUTED)]
    centre = charts.PLOT_LEFT + charts.PLOT_WIDTH / 2
    for index, (state, count) in enumerate(funnel):
        y = charts.TOP + index * charts.ROW
        body.append(f"<g><title>{escape(f'{state.label}: {count}')}</title>")
        body.append(charts._text(charts.PLOT_LEFT - 10, y + 19, charts._short(state.label),
                                 anchor="end"))
        width = count * scale
        body.append(f'<rect x="{centre - width / 2:.1f}" y="{y + 6}" width="{width:.1f}" '
                    f'height="18" fill="{charts.BAR}"/>')
        body.append(charts._text(centre + max(width / 2, 0) + 6, y + 20, str(count), size=12,
                                 weight="bold"))
        body.append("</g>")
    description = "; ".join(f"{state.label}: {count}" for state, count in funnel) + "."
    return charts._document("Rutas por estado", description, height, body)


def level_distribution(perfil: Perfil) -> list[tuple[str, dict[int, int], int]]:
    return [(area.name, area.tally.counts, area.tally.unrated) for area in perfil.areas]

