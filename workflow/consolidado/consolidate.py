"""The Secretaría's consolidated view: where every school's Ruta is, and the municipal perfil.

Pure queries over what ``scoped`` lets the actor see, for one horizon of the Secretaría (the
current one unless ``Filters.horizonte`` names another), optionally narrowed to one zona and one
comuna (or corregimiento). The municipal perfil pools the valoraciones of submitted
autoevaluaciones made with the horizon's own instrument version only: levels of different
versions are not comparable, and switching the Secretaría's current instrument (to prepare the
next cycle) must not change what a running horizon shows.

The metas grouped by área de gestión come from the plans of Rutas at or past
``pmi_formulado`` (``PLAN_STATES``): a plan the school has sent, whatever its review says. A
draft still being written in ``autoevaluacion_enviada`` is not a plan the Dirección de Calidad
can build on. A meta belongs to the área(s) of its objetivo's componentes, so a meta whose
objetivo addresses componentes of two áreas counts in both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflow import charts, scope_versions
from workflow.autoevaluacion.models import Valoracion
from workflow.autoevaluacion.perfil import Perfil, Rated, compute_perfil
from workflow.catalogo.catalog import current_catalog
from workflow.catalogo.models import Catalog, CatalogArea, CatalogComponente, CatalogProceso
from workflow.consolidado.id_lists import among
from workflow.consolidado.stalled import stalls
from workflow.correo.reminders import PMI_OWED, bogota_day
from workflow.errors import NotFound
from workflow.horizontes.horizons import ensure_horizon, horizon_starting
from workflow.horizontes.models import HorizonCalendar, ReminderSent
from workflow.memo import Memo
from workflow.models import Ruta, School, Secretaria, User, Zona
from workflow.plain_rows import plain_rows
from workflow.pmi.models import (
    FUENTE_LABELS,
    SECRETARIA_FUENTE_PREFIX,
    Fuente,
    FuenteSecretaria,
    Hallazgo,
    Meta,
    Objetivo,
    objetivo_componentes,
)
from workflow.scope_versions import cached
from workflow.scoping import scoped
from workflow.search_keys import bytewise, natural_key
from workflow.seguimiento.progress import FollowUpProgress, progress_by_ruta
from workflow.states import STATE_ORDER, State

# The autoevaluación of a Ruta in these states has been sent (and not returned to editing).
SUBMITTED_STATES = frozenset(STATE_ORDER) - {State.BORRADOR}
LOW_LEVELS = (1, 2)
TOP_LOW_RATED = 10
# Shown for Rutas that have not reached seguimiento: nothing is due from them yet.
SEGUIMIENTO_PENDING = "—"
# The states in which seguimiento reports are (or were) owed.
FOLLOW_UP_STATES = frozenset({State.SEGUIMIENTO, State.CERRADO})
# A plan the school has sent: what the PMI sheets and the metas by área count.
PLAN_STATES = frozenset({State.PMI_FORMULADO, State.EN_REVISION, State.APROBADO,
                         State.SEGUIMIENTO, State.CERRADO})
# Rutas per query: bounded IN lists and bounded memory, whatever the number of schools.
BATCH = 500
# Metas shown per componente on the page; the rest are in the export.
SAMPLE_PER_COMPONENTE = 5
TOP_UNIDADES = 3
NO_AREA = "Sin componente asociado"


def batches(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass(frozen=True)
class Filters:
    zona: Zona | None = None
    comuna: str | None = None
    # The first year of the horizon shown; None: the Secretaría's current one.
    horizonte: int | None = None

    @classmethod
    def parse(cls, zona: str | None, comuna: str | None,
              horizonte: str | int | None = None) -> Filters:
        """From query parameters; an unknown zona or comuna means "no filter" (a list, not a
        form). A horizon that is not a year is the current one; a year no horizon starts in
        is refused later (``NotFound``), when the horizon is looked up."""
        chosen = next((item for item in Zona if item.value == (zona or "").strip()), None)
        return cls(chosen, (comuna or "").strip()[:120] or None, parse_horizon(horizonte))

    def as_query(self) -> dict[str, str]:
        query = {}
        if self.horizonte is not None:
            query["horizonte"] = str(self.horizonte)
        if self.zona is not None:
            query["zona"] = self.zona.value
        if self.comuna:
            query["comuna"] = self.comuna
        return query


def parse_horizon(value: str | int | None) -> int | None:
    """A horizon's first year from a query parameter (None when absent or not a year)."""
    text = str(value if value is not None else "").strip()
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        return None
    return int(text)


class Reminded(Protocol):
    """What the consolidado shows of a Ruta's last reminder (a ``ReminderSent``, or just
    these two columns of one)."""

    @property
    def day(self) -> date: ...

    @property
    def summary(self) -> str: ...


@dataclass(frozen=True)
class SchoolRow:
    school: School
    ruta: Ruta | None
    days_in_state: int | None
    last_reminder: Reminded | None
    overdue: bool
    stalled: bool
    seguimiento: str = SEGUIMIENTO_PENDING
    progress: FollowUpProgress | None = None
    # What the Ruta owes the Secretaría ("" when nothing) and its days without a transition
    # or a report sent (``workflow.consolidado.stalled``).
    owes: str = ""
    idle_days: int | None = None


@dataclass(frozen=True)
class LowRated:
    code: str
    name: str
    area_name: str
    count: int
    rated: int


@dataclass(frozen=True)
class MetaSample:
    school_name: str
    ruta_id: int
    enunciado: str
    cantidad: float | None
    unidad: str


@dataclass
class ComponenteMetas:
    code: str
    name: str
    metas: int = 0
    school_ids: set[int] = field(default_factory=set)
    samples: list[MetaSample] = field(default_factory=list)

    @property
    def schools(self) -> int:
        return len(self.school_ids)

    @property
    def hidden(self) -> int:
        return self.metas - len(self.samples)


@dataclass
class AreaMetas:
    name: str
    metas: int = 0
    school_ids: set[int] = field(default_factory=set)
    unidades: list[tuple[str, int]] = field(default_factory=list)
    componentes: list[ComponenteMetas] = field(default_factory=list)

    @property
    def schools(self) -> int:
        return len(self.school_ids)


@dataclass(frozen=True)
class MetasPorArea:
    areas: list[AreaMetas]
    metas: int  # every meta once, whatever its áreas
    schools: int  # schools with at least one meta
    plans: int  # Rutas at or past pmi_formulado in scope


@dataclass(frozen=True)
class Consolidado:
    horizon_start_year: int
    horizon_label: str
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
    metas_por_area: MetasPorArea = MetasPorArea([], 0, 0, 0)

    @property
    def total_rutas(self) -> int:
        return sum(count for _, count in self.funnel)

    @property
    def plan_rows(self) -> list[SchoolRow]:
        """The schools whose Ruta has a plan to export, in the order of the table."""
        return [row for row in self.schools
                if row.ruta is not None and row.ruta.state in PLAN_STATES]

    @property
    def horizon_years(self) -> list[int]:
        ends = [row.ruta.horizon_end_year for row in self.schools if row.ruta is not None]
        end = max(ends, default=self.horizon_start_year + 2)
        return list(range(self.horizon_start_year, end + 1))


def _schools(session: Session, actor: User, filters: Filters) -> list[School]:
    statement = scoped(actor, School).where(School.active.is_(True))
    if filters.zona is not None:
        statement = statement.where(School.zona == filters.zona)
    if filters.comuna:
        statement = statement.where(School.locality == filters.comuna)
    return list(session.scalars(statement.order_by(bytewise(School.sort_key), School.id)))


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


# Per process: the comunas of a Secretaría's schools (of a zona), per version of its schools
# (``scope_versions``): the filters of the queue and /reportes/ offer them on every view.
COMUNAS: Memo[tuple[str, ...]] = scope_versions.memo(16)


def comunas_of(session: Session, actor: User, zona: Zona | None = None) -> list[str]:
    def compute() -> tuple[str, ...]:
        statement = scoped(actor, School).with_only_columns(School.locality).distinct()
        if zona is not None:
            statement = statement.where(School.zona == zona)
        return tuple(sorted(session.scalars(statement), key=natural_key))

    if not actor.active or actor.role.belongs_to_school:  # a scope narrower than a Secretaría
        return list(compute())
    return list(cached(COMUNAS, session, actor.secretaria_id, ("comunas", zona), compute))


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
        (ruta_id, componente_id): level for ruta_id, componente_id, level in plain_rows(session,
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


def horizon_of(session: Session, actor: User, filters: Filters) -> HorizonCalendar:
    """The horizon ``filters`` name (the current one by default); ``NotFound`` otherwise.

    Reads the Secretaría by id: the command line reads as a transient actor.
    """
    secretaria = session.get(Secretaria, actor.secretaria_id)
    if secretaria is None:
        raise NotFound("No hay un horizonte que empiece en ese año.")
    start = filters.horizonte or secretaria.horizon_start_year
    found = horizon_starting(session, secretaria.id, start)
    if found is None and start == secretaria.horizon_start_year:
        found = ensure_horizon(session, secretaria, start,
                               start + secretaria.horizon_years - 1, actor=None)
    if found is None:
        raise NotFound("No hay un horizonte que empiece en ese año.")
    return found


def horizon_catalog(session: Session, horizon: HorizonCalendar) -> Catalog | None:
    """The instrument version of ``horizon``: its own, never the Secretaría's current one
    (a horizon opened before instruments were pinned falls back to the current one)."""
    if horizon.catalog_id is not None:
        return session.get(Catalog, horizon.catalog_id)
    return current_catalog(session, horizon.secretaria_id)


def count_rutas(session: Session, actor: User, filters: Filters) -> int:
    """How many Rutas of the chosen horizon ``actor`` sees under ``filters`` (one query)."""
    secretaria = session.get(Secretaria, actor.secretaria_id)
    if secretaria is None:
        return 0
    start = filters.horizonte or secretaria.horizon_start_year
    statement = scoped(actor, Ruta).where(
        School.active.is_(True), Ruta.horizon_start_year == start)
    if filters.zona is not None:
        statement = statement.where(School.zona == filters.zona)
    if filters.comuna:
        statement = statement.where(School.locality == filters.comuna)
    return session.scalar(statement.with_only_columns(func.count(Ruta.id))) or 0


@dataclass(frozen=True)
class ObjetivoComponente:
    area_name: str
    area_position: int
    proceso_position: int
    position: int
    code: str
    name: str


def objetivo_componentes_of(session: Session, ruta_ids: Sequence[int]
                            ) -> dict[int, list[ObjetivoComponente]]:
    """The componentes (with their área) each objetivo of ``ruta_ids`` addresses."""
    found: dict[int, list[ObjetivoComponente]] = {}
    if not ruta_ids:
        return found
    rows = plain_rows(session,
        select(Objetivo.id, CatalogArea.name, CatalogArea.position, CatalogProceso.position,
               CatalogComponente.position, CatalogComponente.code, CatalogComponente.name)
        .join(objetivo_componentes, objetivo_componentes.c.objetivo_id == Objetivo.id)
        .join(CatalogComponente, CatalogComponente.id == objetivo_componentes.c.componente_id)
        .join(CatalogProceso, CatalogProceso.id == CatalogComponente.proceso_id)
        .join(CatalogArea, CatalogArea.id == CatalogProceso.area_id)
        .where(among(session, Objetivo.ruta_id, ruta_ids))
        .order_by(Objetivo.id, CatalogArea.position, CatalogProceso.position,
                  CatalogComponente.position))
    for objetivo_id, *values in rows:
        found.setdefault(objetivo_id, []).append(ObjetivoComponente(*values))
    return found


def areas_label(componentes: Sequence[ObjetivoComponente]) -> str:
    return "; ".join(dict.fromkeys(item.area_name for item in componentes))


def componentes_label(componentes: Sequence[ObjetivoComponente]) -> str:
    return "; ".join(f"{item.code} {item.name}" for item in componentes)


def metas_por_area(session: Session, plan_rows: Sequence[SchoolRow]) -> MetasPorArea:
    """Per área de gestión (and componente): metas, schools, frequent unidades, a sample."""
    areas: dict[str, AreaMetas] = {}
    area_order: dict[str, tuple[int, str]] = {}
    componentes: dict[tuple[str, str], ComponenteMetas] = {}
    componente_order: dict[tuple[str, str], tuple[int, int, str]] = {}
    unidades: dict[str, Counter[str]] = {}
    all_metas: set[int] = set()
    all_schools: set[int] = set()
    by_ruta = {row.ruta.id: row.school for row in plan_rows if row.ruta is not None}
    for chunk in batches(list(by_ruta)):
        links = objetivo_componentes_of(session, chunk)
        metas = plain_rows(session,
            select(Meta.id, Meta.ruta_id, Meta.objetivo_id, Meta.enunciado, Meta.cantidad,
                   Meta.unidad).where(among(session, Meta.ruta_id, chunk)).order_by(Meta.id))
        for meta_id, ruta_id, objetivo_id, enunciado, cantidad, unidad in metas:
            school = by_ruta[ruta_id]
            all_metas.add(meta_id)
            all_schools.add(school.id)
            linked = links.get(objetivo_id) or [
                ObjetivoComponente(NO_AREA, 10**6, 0, 0, "", "")]
            seen_areas: set[str] = set()
            for item in linked:
                area = areas.setdefault(item.area_name, AreaMetas(item.area_name))
                area_order.setdefault(item.area_name, (item.area_position, item.area_name))
                if item.area_name not in seen_areas:
                    seen_areas.add(item.area_name)
                    area.metas += 1
                    area.school_ids.add(school.id)
                    label = " ".join((unidad or "").split()).lower()
                    if label:
                        unidades.setdefault(item.area_name, Counter())[label] += 1
                key = (item.area_name, item.code)
                componente = componentes.setdefault(key, ComponenteMetas(item.code, item.name))
                componente_order.setdefault(key, (item.proceso_position, item.position,
                                                  item.code))
                componente.metas += 1
                componente.school_ids.add(school.id)
                componente.samples.append(MetaSample(school.name, ruta_id, enunciado, cantidad,
                                                     unidad))
    for key, componente in componentes.items():
        componente.samples.sort(key=lambda sample: (sample.school_name.lower(), sample.ruta_id))
        del componente.samples[SAMPLE_PER_COMPONENTE:]
        areas[key[0]].componentes.append(componente)
    for name, area in areas.items():
        area.componentes.sort(key=lambda item: componente_order[(name, item.code)])
        area.unidades = sorted(unidades.get(name, Counter()).items(),
                               key=lambda pair: (-pair[1], pair[0]))[:TOP_UNIDADES]
    ordered = sorted(areas.values(), key=lambda area: area_order[area.name])
    return MetasPorArea(ordered, len(all_metas), len(all_schools), len(by_ruta))


def consolidate(session: Session, actor: User, filters: Filters, *, now: datetime,
                stalled_days: int) -> Consolidado:
    """Everything the consolidated page (and the export) shows, for ``actor``'s Secretaría,
    in the horizon ``filters`` name. Raises ``NotFound`` for a year no horizon starts in."""
    calendar = horizon_of(session, actor, filters)
    horizon = calendar.horizon_start_year
    today = bogota_day(now)
    deadline = calendar.pmi_deadline
    schools = _schools(session, actor, filters)
    rutas = _rutas(session, actor, [school.id for school in schools], horizon)
    reminders = _last_reminders(session, [ruta.id for ruta in rutas.values()])
    progress = progress_by_ruta(session, [ruta.id for ruta in rutas.values()
                                          if ruta.state in FOLLOW_UP_STATES], today=today)
    stall = stalls(session, list(rutas.values()), progress, now=now,
                   stalled_days=stalled_days)
    rows = []
    for school in schools:
        ruta = rutas.get(school.id)
        if ruta is None:
            rows.append(SchoolRow(school, None, None, None, False, False))
            continue
        days = (today - bogota_day(ruta.state_changed_at)).days
        overdue = deadline is not None and today > deadline and ruta.state in PMI_OWED
        followed = progress.get(ruta.id)
        rows.append(SchoolRow(school, ruta, days, reminders.get(ruta.id), overdue,
                              stall[ruta.id].stalled,
                              followed.label if followed else SEGUIMIENTO_PENDING, followed,
                              stall[ruta.id].owes, stall[ruta.id].idle_days))
    counts = Counter(ruta.state for ruta in rutas.values())
    catalog = horizon_catalog(session, calendar)
    perfil, perfil_schools, low_rated = municipal_perfil(
        session, [rutas[school.id] for school in schools if school.id in rutas], catalog)
    plan_rows = [row for row in rows if row.ruta is not None and row.ruta.state in PLAN_STATES]
    return Consolidado(
        horizon_start_year=horizon, horizon_label=calendar.horizon_label, filters=filters,
        funnel=[(state, counts.get(state, 0)) for state in STATE_ORDER],
        schools=rows, overdue=[row for row in rows if row.overdue],
        stalled=[row for row in rows if row.stalled], catalog=catalog, perfil=perfil,
        perfil_schools=perfil_schools, low_rated=low_rated,
        comunas=comunas_of(session, actor, filters.zona), pmi_deadline=deadline,
        stalled_days=stalled_days, metas_por_area=metas_por_area(session, plan_rows))


# --- the funnel chart ---------------------------------------------------------------------


def funnel_chart(funnel: Sequence[tuple[State, int]]) -> str:
    """Horizontal bars, one per state in the order of the Ruta, centred like a funnel."""
    description = "; ".join(f"{state.label}: {count}" for state, count in funnel) + "."
    return charts.funnel_chart("Rutas por estado", "Rutas en cada estado",
                               [(state.label, count) for state, count in funnel], description)


def level_distribution(perfil: Perfil) -> list[tuple[str, dict[int, int], int]]:
    return [(area.name, area.tally.counts, area.tally.unrated) for area in perfil.areas]



# --- hallazgos by source (criterion 7) ------------------------------------------------------


@dataclass(frozen=True)
class FuenteCount:
    label: str
    external: bool
    hallazgos: int
    schools: int


def hallazgos_por_fuente(session: Session, plan_rows: Sequence[SchoolRow]) -> list[FuenteCount]:
    """Per source (the shipped list and the Secretaría's own): how many hallazgos and schools
    the sent plans record, most used first (ties by the source's code)."""
    ruta_ids = [row.ruta.id for row in plan_rows if row.ruta is not None]
    labels = {item.value: (FUENTE_LABELS[item], item.external) for item in Fuente}
    hallazgos: Counter[str] = Counter()
    schools: dict[str, set[int]] = {}
    for chunk in batches(ruta_ids):
        for fuente, ruta_id in plain_rows(session, select(Hallazgo.fuente, Hallazgo.ruta_id)
                                               .where(among(session, Hallazgo.ruta_id, chunk))):
            hallazgos[fuente] += 1
            schools.setdefault(fuente, set()).add(ruta_id)
    own = [int(code.removeprefix(SECRETARIA_FUENTE_PREFIX)) for code in hallazgos
           if code.startswith(SECRETARIA_FUENTE_PREFIX)
           and code.removeprefix(SECRETARIA_FUENTE_PREFIX).isdigit()]
    for row in session.scalars(select(FuenteSecretaria).where(FuenteSecretaria.id.in_(own))):
        labels[row.code] = (row.nombre, row.externa)
    # Ties by code: the same order whatever the order the rows came in.
    ranked = sorted(hallazgos.items(), key=lambda pair: (-pair[1], pair[0]))
    return [FuenteCount(*labels.get(code, (code, True)), count, len(schools[code]))
            for code, count in ranked]
