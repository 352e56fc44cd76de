"""The consolidado page read from the per-Ruta aggregates (``workflow.consolidado.aggregates``).

Everything here is a handful of SQL statements whatever the number of schools: the funnel and
the counts of Rutas with the PMI overdue or estancadas are GROUP BY / COUNT over the
aggregates; the table of schools is one ORDER BY … LIMIT page (sorted and filtered by the
database); the lists of overdue and estancadas Rutas show their first ``LIST_LIMIT`` and link
to the table filtered by that situation; the municipal perfil is one GROUP BY (componente,
level) over the valoraciones of the Rutas the aggregates say were sent with the horizon's
instrument, folded into áreas and procesos in the instrument's order. Days in the state,
«PMI vencido» and «estancada» are worked out from the stored moments at reading time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from workflow.autoevaluacion.perfil import Perfil
from workflow.catalogo.models import Catalog
from workflow.consolidado import section_read
from workflow.consolidado.aggregates import refresh_rutas
from workflow.consolidado.consolidate import (
    PLAN_STATES,
    Filters,
    LowRated,
    comunas_of,
    horizon_catalog,
    horizon_of,
)
from workflow.consolidado.models import RutaAggregate
from workflow.consolidado.section_counts import SECTIONS_VERSION
from workflow.correo.reminders import PMI_OWED, bogota_day
from workflow.horizontes.models import ReminderSent
from workflow.memo import Memo
from workflow.models import Ruta, School, User, utcnow
from workflow.scoping import scoped
from workflow.search_keys import bytewise, sort_key
from workflow.states import STATE_ORDER, State

# The overdue and estancadas Rutas listed above the table; the rest are one click away.
LIST_LIMIT = 20
# Rutas of the scope without aggregates yet (new, or bulk-loaded) refreshed by the page itself.
INLINE_REFRESH_MAX = 500
SITUATIONS = {"vencido": "con el PMI vencido", "estancada": "estancadas",
              "atencion": "que requieren atención (PMI vencido o estancadas)"}
SORTS = ("colegio", "comuna", "estado", "dias", "recordatorio", "avance")


@dataclass(frozen=True)
class RutaRef:
    id: int
    state: State


@dataclass(frozen=True)
class PageRow:
    """One school of the table (or of the lists): what its row shows."""

    school: School
    ruta: RutaRef | None
    days_in_state: int | None
    last_reminder: ReminderSent | None
    overdue: bool
    stalled: bool
    seguimiento: str
    owes: str
    idle_days: int | None
    # When it last moved (None: no Ruta): the moment its ``idle_days`` grows is a day later.
    last_activity_at: datetime | None = None


@dataclass(frozen=True)
class TableQuery:
    """What the table shows: its own filters (state, situation), sort and page."""

    estado: State | None = None
    situacion: str | None = None
    sort: str = "colegio"
    descending: bool = False
    page: int = 1
    page_size: int = 20

    @classmethod
    def parse(cls, estado: str | None, situacion: str | None, sort: str, descending: bool,
              page: int | None, page_size: int) -> TableQuery:
        """Unknown values mean "no filter" / the default (a list, not a form)."""
        chosen = next((item for item in State if item.value == (estado or "").strip()), None)
        situation = (situacion or "").strip()
        return cls(chosen, situation if situation in SITUATIONS else None,
                   sort if sort in SORTS else "colegio", descending, max(page or 1, 1),
                   page_size)

    def as_query(self) -> dict[str, str]:
        query = {}
        if self.estado is not None:
            query["estado"] = self.estado.value
        if self.situacion:
            query["situacion"] = self.situacion
        return query


@dataclass(frozen=True)
class Summary:
    horizon_start_year: int
    horizon_label: str
    filters: Filters
    funnel: list[tuple[State, int]]
    catalog: Catalog | None
    perfil: Perfil | None
    perfil_schools: int
    low_rated: list[LowRated]
    comunas: list[str]
    pmi_deadline: date | None
    stalled_days: int
    schools_count: int
    overdue: list[PageRow]
    overdue_count: int
    stalled: list[PageRow]
    stalled_count: int
    # Overdue or estancada (a Ruta both counts once): what the printed table keeps.
    attention_count: int
    # The oldest refresh among the Rutas shown (None: no Ruta), and what identifies the data.
    refreshed_at: datetime | None
    version: str
    # Rutas of the scope whose figures are not computed yet (more than the page fills itself).
    missing: int = 0
    # The next moment what the page shows changes by time alone within the day (a Ruta
    # becomes estancada, a listed one's days without movement grow); None: none before the
    # day ends. The page's drawn body is kept until then (``blueprints.reportes``).
    changes_at: datetime | None = None
    # The schools and aggregates it was read from: the table reads the same.
    scope: Scope | None = field(default=None, compare=False, repr=False)

    @property
    def total_rutas(self) -> int:
        return sum(count for _, count in self.funnel)


@dataclass(frozen=True)
class TablePage:
    rows: list[PageRow]
    page: int
    pages: int
    total: int


class Scope:
    """The schools and aggregates ``actor`` sees under ``filters``, in one horizon."""

    def __init__(self, actor: User, filters: Filters, horizon: int, *, now: datetime,
                 stalled_days: int, deadline: date | None, catalog_id: int | None = None
                 ) -> None:
        self.actor, self.filters, self.horizon = actor, filters, horizon
        self.catalog_id = catalog_id
        self.now, self.today = now, bogota_day(now)
        self.cutoff = now - timedelta(days=stalled_days)
        self.deadline = deadline

    def schools(self) -> Select[Any]:
        statement = scoped(self.actor, School).select_from(School).where(
            School.active.is_(True))
        if self.filters.zona is not None:
            statement = statement.where(School.zona == self.filters.zona)
        if self.filters.comuna:
            statement = statement.where(School.locality == self.filters.comuna)
        return statement

    def with_aggregates(self, *columns: Any) -> Select[Any]:
        """``columns`` of the scope's schools, each with its Ruta's aggregate in the horizon
        when it has one (the table, and the counts that must agree with it)."""
        return (self.schools().with_only_columns(*columns)
                .outerjoin(RutaAggregate, and_(RutaAggregate.school_id == School.id,
                                               RutaAggregate.horizon_start_year
                                               == self.horizon)))

    def aggregates(self, *columns: Any) -> Select[Any]:
        """The aggregates of the scope's Rutas (joined with their school)."""
        return (self.schools().with_only_columns(*columns)
                .join(RutaAggregate, RutaAggregate.school_id == School.id)
                .where(RutaAggregate.horizon_start_year == self.horizon))

    @property
    def overdue(self) -> Any:
        if self.deadline is None or self.today <= self.deadline:
            return literal(False)
        return RutaAggregate.state.in_([state.value for state in PMI_OWED])

    @property
    def stalled(self) -> Any:
        return and_(RutaAggregate.owes != "", RutaAggregate.last_activity_at < self.cutoff)

    @property
    def attention(self) -> Any:
        return or_(self.overdue, self.stalled)

    def missing(self, *columns: Any) -> Select[Any]:
        """The scope's Rutas with no aggregate row yet, or whose section counts are not
        computed (or computed by an older version of them)."""
        return (self.schools().with_only_columns(*columns)
                .join(Ruta, Ruta.school_id == School.id)
                .outerjoin(RutaAggregate, RutaAggregate.ruta_id == Ruta.id)
                .where(Ruta.horizon_start_year == self.horizon,
                       or_(RutaAggregate.ruta_id.is_(None),
                           RutaAggregate.sections_version != SECTIONS_VERSION)))


def scope_of(session: Session, actor: User, filters: Filters, *, now: datetime,
             stalled_days: int) -> tuple[Scope, Any]:
    calendar = horizon_of(session, actor, filters)
    return Scope(actor, filters, calendar.horizon_start_year, now=now,
                 stalled_days=stalled_days, deadline=calendar.pmi_deadline,
                 catalog_id=calendar.catalog_id), calendar


@dataclass(frozen=True)
class Census:
    """The scope's figures that need every school: read in one statement (``census``)."""

    # Aggregates per Ruta state (the value), and in all.
    states: dict[str, int]
    aggregates: int
    # Active schools of the scope, with or without a Ruta in the horizon.
    schools: int
    # Rutas of the horizon without an aggregate, or with section counts of an older version.
    missing: int
    overdue: int
    stalled: int
    attention: int
    # The latest and the oldest refresh among the aggregates (None: no aggregate).
    latest: datetime | None
    oldest: datetime | None
    # The oldest last movement among the Rutas that owe something and are not estancadas
    # yet: the first of them becomes estancada ``stalled_days`` after it (None: none).
    next_stalled_from: datetime | None = None


def census(session: Session, scope: Scope) -> Census:
    """One pass over the scope's schools, each with its aggregate and its Ruta in the
    horizon, grouped by the aggregate's state: what the funnel, the situations' counts, the
    missing aggregates and the data's version need (six statements over the same 10,000
    schools before)."""
    stale = or_(RutaAggregate.ruta_id.is_(None),
                RutaAggregate.sections_version != SECTIONS_VERSION)
    rows = session.execute(
        scope.with_aggregates(
            RutaAggregate.state, func.count(School.id),
            func.count(case((and_(Ruta.id.is_not(None), stale), 1))),
            func.count(RutaAggregate.ruta_id),
            func.count(case((scope.overdue, 1))), func.count(case((scope.stalled, 1))),
            func.count(case((scope.attention, 1))),
            func.max(RutaAggregate.refreshed_at), func.min(RutaAggregate.refreshed_at),
            func.min(case((and_(RutaAggregate.owes != "",
                                RutaAggregate.last_activity_at >= scope.cutoff),
                           RutaAggregate.last_activity_at))))
        .outerjoin(Ruta, and_(Ruta.school_id == School.id,
                              Ruta.horizon_start_year == scope.horizon))
        .group_by(RutaAggregate.state)).all()
    latest = [row[7] for row in rows if row[7] is not None]
    oldest = [row[8] for row in rows if row[8] is not None]
    owing = [row[9] for row in rows if row[9] is not None]
    return Census(states={row[0]: row[3] for row in rows if row[0] is not None},
                  aggregates=sum(row[3] for row in rows), schools=sum(row[1] for row in rows),
                  missing=sum(row[2] for row in rows), overdue=sum(row[4] for row in rows),
                  stalled=sum(row[5] for row in rows), attention=sum(row[6] for row in rows),
                  latest=max(latest, default=None), oldest=min(oldest, default=None),
                  next_stalled_from=min(owing, default=None))


def fill_missing(session: Session, scope: Scope, counted: Census) -> Census:
    """Compute at once the aggregates of the scope's Rutas that have none (when at most
    ``INLINE_REFRESH_MAX``; more wait for the scheduler, which refreshes everything every
    day, or for ``ruta consolidado actualizar``, and the page says so), and count again.

    Only a bulk load (or the upgrade that created the table) leaves Rutas without a row: any
    change through the ORM writes it. A GET does not commit, so until the scheduler runs the
    page computes them again on each view: a few statements per 500 Rutas."""
    if not counted.missing or counted.missing > INLINE_REFRESH_MAX:
        return counted
    refresh_rutas(session, list(session.scalars(scope.missing(Ruta.id))))
    return census(session, scope)


def _page_rows(session: Session, scope: Scope,
               found: Sequence[tuple[School, RutaAggregate | None]]) -> list[PageRow]:
    reminder_ids = [agg.last_reminder_id for _, agg in found
                    if agg is not None and agg.last_reminder_id is not None]
    reminders = ({item.id: item for item in session.scalars(
        select(ReminderSent).where(ReminderSent.id.in_(reminder_ids)))}
        if reminder_ids else {})
    rows = []
    for school, agg in found:
        if agg is None:
            rows.append(PageRow(school, None, None, None, False, False, "—", "", None))
            continue
        state = State(agg.state)
        overdue = (scope.deadline is not None and scope.today > scope.deadline
                   and state in PMI_OWED)
        rows.append(PageRow(
            school, RutaRef(agg.ruta_id, state),
            (scope.today - bogota_day(agg.state_changed_at)).days,
            reminders.get(agg.last_reminder_id) if agg.last_reminder_id else None,
            overdue, bool(agg.owes) and agg.last_activity_at < scope.cutoff,
            agg.seguimiento, agg.owes, max((scope.now - agg.last_activity_at).days, 0),
            agg.last_activity_at))
    return rows


def _state_rank(labels: bool) -> Any:
    """A state's position: by its label's alphabetical order, or in the Ruta's order."""
    ordered = (sorted(STATE_ORDER, key=lambda state: sort_key(state.label)) if labels
               else list(STATE_ORDER))
    return case({state.value: index for index, state in enumerate(ordered)},
                value=RutaAggregate.state)


def _ordering(sort: str, descending: bool) -> list[Any]:
    """ORDER BY for the table: the column in its direction, empty values last on both
    databases, then the school's name so pages never overlap."""
    columns: list[Any] = {
        "colegio": [bytewise(School.sort_key)],
        "comuna": [School.locality_sort, bytewise(School.sort_key)],
        "estado": [_state_rank(labels=True)],
        "dias": [RutaAggregate.state_changed_at],
        "recordatorio": [RutaAggregate.last_reminder_at],
        "avance": [_state_rank(labels=False),
                   func.coalesce(RutaAggregate.progress_percent, -1.0)],
    }[sort]
    # «Días en el estado» grows as the state's start goes back.
    reverse = not descending if sort == "dias" else descending
    clauses: list[Any] = [column.desc() if reverse else column.asc() for column in columns]
    if sort in ("colegio", "comuna"):
        # A school's own columns, never empty, and its id decides the rest: the default
        # order is that of ``ix_schools_secretaria_sort``, so a page reads its 20 schools.
        return [*clauses, School.id.desc() if reverse else School.id.asc()]
    return [case((columns[0].is_(None), 1), else_=0), *clauses, bytewise(School.sort_key),
            School.id]


def table(session: Session, scope: Scope, query: TableQuery, *,
          schools: int | None = None) -> TablePage:
    """One page of the schools table (every active school of the scope, with its Ruta in
    the horizon or «Sin Ruta»), filtered and sorted by the database. ``schools``: how many
    active schools the scope has, when already counted (the unfiltered table's total)."""
    statement = scope.with_aggregates(School, RutaAggregate)
    if query.estado is not None:
        statement = statement.where(RutaAggregate.state == query.estado.value)
    if query.situacion == "vencido":
        statement = statement.where(scope.overdue, RutaAggregate.ruta_id.is_not(None))
    elif query.situacion == "estancada":
        statement = statement.where(scope.stalled)
    elif query.situacion == "atencion":
        statement = statement.where(scope.attention)
    if schools is not None and query.estado is None and query.situacion is None:
        total = schools
    else:
        total = session.scalar(statement.with_only_columns(func.count()).order_by(None)) or 0
    pages = max((total + query.page_size - 1) // query.page_size, 1)
    page = min(query.page, pages)
    found = session.execute(statement.order_by(*_ordering(query.sort, query.descending))
                            .limit(query.page_size)
                            .offset((page - 1) * query.page_size)).all()
    return TablePage(_page_rows(session, scope, [(school, agg) for school, agg in found]), page,
                 pages, total)


def _listed(session: Session, scope: Scope, condition: Any, limit: int) -> list[PageRow]:
    found = session.execute(
        scope.schools().add_columns(RutaAggregate)
        .join(RutaAggregate, RutaAggregate.school_id == School.id)
        .where(RutaAggregate.horizon_start_year == scope.horizon, condition)
        .order_by(bytewise(School.sort_key), School.id).limit(limit)).all()
    return _page_rows(session, scope, [(school, agg) for school, agg in found])


def version_of(scope: Scope, schools: int, aggregates: int, latest: datetime | None,
               token: str | None = None) -> str:
    """What identifies the data the page and its charts show (for ETags and the memo), from
    the scope's schools, their aggregates and the latest refresh: any refresh, a Ruta or a
    school more or less, or another day (days and deadlines move) changes the version.
    ``token``: the Secretaría's ``consolidado`` token when the caller read it, which also
    moves with writes no refresh follows (bulk statements: ``scope_versions``)."""
    parts: list[Any] = [
        scope.actor.secretaria_id, scope.horizon, sorted(scope.filters.as_query().items()),
        aggregates, latest, schools, scope.today, scope.catalog_id]
    if token is not None:
        parts.append(token)
    raw = "|".join(str(part) for part in parts)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def chart_version(session: Session, scope: Scope) -> tuple[str, datetime | None]:
    """The version a chart is revalidated against, and the latest refresh: the same as the
    page's (``census``), from the three figures it is made of alone (a chart asked again
    with If-None-Match reads nothing else)."""
    schools, aggregates, latest = session.execute(scope.with_aggregates(
        func.count(School.id), func.count(RutaAggregate.ruta_id),
        func.max(RutaAggregate.refreshed_at))).one()
    return version_of(scope, schools, aggregates, latest), latest


# Per process: the charts' SVG and the plan sections, per (Secretaría, version[, chart]).
CHARTS: Memo[str] = Memo(32)
SECTIONS: Memo[dict[str, Any]] = Memo(8)
PERFILES: Memo[tuple[Perfil | None, int, list[LowRated]]] = Memo(16)


@dataclass(frozen=True)
class PlanSchool:
    """What the plan sections read of a school (no ORM object: they may be memoised)."""

    id: int
    name: str
    sort_key: str


@dataclass(frozen=True)
class PlanRow:
    school: PlanSchool
    ruta: RutaRef


@dataclass(frozen=True)
class PlansView:
    """The scope's Rutas as the plan sections (``secciones``, ``rubric``, metas por área)
    read them: ``schools`` every Ruta, ``plan_rows`` those with a plan sent."""

    schools: list[PlanRow]

    @property
    def plan_rows(self) -> list[PlanRow]:
        return [row for row in self.schools if row.ruta.state in PLAN_STATES]


def plans_view(session: Session, actor: User, data: Summary) -> PlansView:
    """One statement: the scope's Rutas with their school, in the table's default order."""
    scope = Scope(actor, data.filters, data.horizon_start_year, now=utcnow(),
                  stalled_days=data.stalled_days, deadline=data.pmi_deadline)
    rows = session.execute(scope.aggregates(
        School.id, School.name, School.sort_key, RutaAggregate.ruta_id, RutaAggregate.state)
        .order_by(bytewise(School.sort_key), School.id))
    return PlansView([PlanRow(PlanSchool(school_id, name, key), RutaRef(ruta_id, State(state)))
                      for school_id, name, key, ruta_id, state in rows])


def summarize(session: Session, actor: User, filters: Filters, *, now: datetime,
              stalled_days: int, list_limit: int = LIST_LIMIT,
              token: str | None = None) -> Summary:
    """Everything /reportes/ shows above and beside the table, from the aggregates; the
    lists of overdue and estancadas Rutas up to ``list_limit`` each. ``token``: the
    Secretaría's ``consolidado`` token read before, part of the version (``version_of``)."""
    scope, calendar = scope_of(session, actor, filters, now=now, stalled_days=stalled_days)
    counted = fill_missing(session, scope, census(session, scope))
    catalog = horizon_catalog(session, calendar)
    version = version_of(scope, counted.schools, counted.aggregates, counted.latest, token)
    # A valoración changed refreshes its Ruta's aggregate, hence the version.
    perfil, perfil_schools, low_rated = PERFILES.get(
        (actor.secretaria_id, version),
        lambda: section_read.municipal_perfil(session, scope, catalog))
    stalled = (_listed(session, scope, scope.stalled, list_limit) if counted.stalled
               else [])
    return Summary(
        horizon_start_year=scope.horizon, horizon_label=calendar.horizon_label,
        filters=filters,
        funnel=[(state, counted.states.get(state.value, 0)) for state in STATE_ORDER],
        catalog=catalog, perfil=perfil, perfil_schools=perfil_schools, low_rated=low_rated,
        comunas=comunas_of(session, actor, filters.zona), pmi_deadline=calendar.pmi_deadline,
        stalled_days=stalled_days,
        schools_count=counted.schools,
        overdue=_listed(session, scope, scope.overdue, list_limit) if counted.overdue else [],
        overdue_count=counted.overdue,
        stalled=stalled, stalled_count=counted.stalled, attention_count=counted.attention,
        refreshed_at=counted.oldest, version=version,
        missing=counted.missing if counted.missing > INLINE_REFRESH_MAX else 0,
        changes_at=_changes_at(scope, counted, stalled), scope=scope)


def _changes_at(scope: Scope, counted: Census, stalled: Sequence[PageRow]) -> datetime | None:
    """The first moment after ``scope.now`` at which the figures move by time alone, within
    the day (days in the state and «PMI vencido» move with the day in Bogotá): the next Ruta
    to become estancada, or a listed estancada's days without movement growing."""
    moments = [row.last_activity_at + timedelta(days=(row.idle_days or 0) + 1)
               for row in stalled if row.last_activity_at is not None]
    if counted.next_stalled_from is not None:
        moments.append(counted.next_stalled_from + (scope.now - scope.cutoff))
    return min(moments, default=None)
