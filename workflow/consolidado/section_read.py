"""The plan sections and the municipal perfil of /reportes/, read from ``section_sums``.

``section_counts`` keeps, per group (Secretaría, horizon, zona, comuna), the sum of what each
Ruta contributes to each key of each section. Here those sums, filtered by the page's scope
(its horizon and its zona and comuna filters), become the same objects the functions over the
raw rows return (``insumos``, ``rubric``, ``criteria_observed``, ``resultados``,
``consolidate.metas_por_area``, ``consolidate.municipal_perfil``) and the page renders: a GROUP BY
over a few thousand rows, then the examples of metas (the first five per componente) and the
first lessons learned, each one statement with a LIMIT.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, false, func, select, union_all
from sqlalchemy.orm import Session

from workflow.autoevaluacion.perfil import AreaPerfil, Perfil, ProcesoPerfil
from workflow.autoevaluacion.perfil import Tally as LevelTally
from workflow.catalogo.models import LEVELS, Catalog
from workflow.cierre.models import FinalEvaluation
from workflow.cierre.models import Verdict as FinalVerdict
from workflow.consolidado import consolidate, insumos, resultados
from workflow.consolidado.consolidate import (
    FOLLOW_UP_STATES,
    LOW_LEVELS,
    PLAN_STATES,
    TOP_LOW_RATED,
    TOP_UNIDADES,
    AreaMetas,
    ComponenteMetas,
    FuenteCount,
    LowRated,
    MetaSample,
    MetasPorArea,
)
from workflow.consolidado.criteria_observed import ObservedTally
from workflow.consolidado.models import RutaAggregate, RutaSectionCount, SectionSum
from workflow.consolidado.rubric import Group, RubricShares, Tally
from workflow.consolidado.secciones import Secciones
from workflow.models import School, Zona
from workflow.pmi.models import FUENTE_LABELS, SECRETARIA_FUENTE_PREFIX, Fuente, FuenteSecretaria
from workflow.pmi.rubric import ORDER
from workflow.search_keys import bytewise, search_key
from workflow.states import State

GEOGRAPHIC = ("rubric", "observed", "observed.plans")
PERFIL = ("perfil", "perfil.pooled")
# The examples' statement unites one LIMITed select per componente (SQLite allows 500).
SAMPLE_SELECTS = 400


@dataclass(frozen=True)
class Summed:
    """One key of a section, summed over the scope."""

    rutas: int
    a: int
    b: int
    c: int
    d: int
    position: int
    label: str


Sections = dict[str, dict[str, Summed]]


def _filtered(statement: Select[Any], scope: Any, model: Any = SectionSum) -> Select[Any]:
    statement = statement.where(model.secretaria_id == scope.actor.secretaria_id,
                                model.horizon_start_year == scope.horizon)
    if not scope.actor.active:
        return statement.where(false())
    if scope.filters.zona is not None:
        statement = statement.where(model.zona == scope.filters.zona.value)
    if scope.filters.comuna:
        statement = statement.where(model.comuna == scope.filters.comuna)
    return statement


def _sums(session: Session, scope: Any, sections: Iterable[str], *extra: Any
          ) -> list[Any]:
    columns = (SectionSum.section, SectionSum.key, *extra)
    return list(session.execute(_filtered(
        select(*columns, func.sum(SectionSum.rutas), func.sum(SectionSum.a),
               func.sum(SectionSum.b), func.sum(SectionSum.c), func.sum(SectionSum.d),
               func.min(SectionSum.position), func.min(SectionSum.label)), scope)
        .where(SectionSum.section.in_(list(sections)))
        .group_by(*columns).having(func.sum(SectionSum.rutas) > 0)))


def _summed(values: Sequence[Any]) -> Summed:
    rutas, a, b, c, d, position, label = values
    return Summed(int(rutas or 0), int(a or 0), int(b or 0), int(c or 0), int(d or 0),
                  int(position or 0), label or "")


def read_sums(session: Session, scope: Any, sections: Iterable[str]) -> Sections:
    found: Sections = {}
    for section, key, *values in _sums(session, scope, sections):
        found.setdefault(section, {})[key] = _summed(values)
    return found


# --- the municipal perfil -------------------------------------------------------------------


def municipal_perfil(session: Session, scope: Any, catalog: Catalog | None
                     ) -> tuple[Perfil | None, int, list[LowRated]]:
    """The perfil pooled over the scope's Rutas sent with ``catalog`` (every valoración once),
    how many Rutas, and the componentes most often rated 1–2: one statement over the
    per-comuna sums of the Rutas' levels (``section_counts``), never over the valoraciones."""
    if catalog is None:
        return None, 0, []
    sums = read_sums(session, scope, PERFIL)
    pooled = sums.get("perfil.pooled", {}).get(str(catalog.id))
    if pooled is None or not pooled.rutas:
        return None, 0, []
    counts: dict[int, dict[int, int]] = {}
    for key, item in sums.get("perfil", {}).items():
        catalog_id, componente_id = json.loads(key)
        if catalog_id == catalog.id:
            counts[componente_id] = {level: count for level, count in
                                     zip((1, 2, 3, 4), (item.a, item.b, item.c, item.d),
                                         strict=True) if count}
    perfil, low_rated = _fold_perfil(catalog, counts, pooled.rutas)
    return perfil, pooled.rutas, low_rated


def _fold_perfil(catalog: Catalog, counts: dict[int, dict[int, int]], schools: int
                ) -> tuple[Perfil, list[LowRated]]:
    """Levels counted per componente (``counts``: componente → level → valoraciones) over
    ``schools`` Rutas, folded into áreas and procesos in the instrument's order."""

    def tally_of(componente_ids: Sequence[int]) -> LevelTally:
        levels = dict.fromkeys(LEVELS, 0)
        for componente_id in componente_ids:
            for level, count in counts.get(componente_id, {}).items():
                if level in levels:
                    levels[level] += count
        return LevelTally(levels, schools * len(componente_ids))

    areas = []
    everything: list[int] = []
    low: list[tuple[int, int, int, LowRated]] = []
    position = 0
    for area in catalog.areas:
        procesos = []
        in_area: list[int] = []
        for proceso in area.procesos:
            ids = [componente.id for componente in proceso.componentes]
            if not ids:
                continue
            in_area += ids
            procesos.append(ProcesoPerfil(proceso.code, proceso.name, tally_of(ids)))
            for componente in proceso.componentes:
                position += 1
                levels = counts.get(componente.id, {})
                count = sum(levels.get(level, 0) for level in LOW_LEVELS)
                if count:
                    low.append((-count, position, componente.id, LowRated(
                        componente.code, componente.name, area.name, count,
                        sum(levels.values()))))
        if in_area:
            everything += in_area
            areas.append(AreaPerfil(area.code, area.name, tally_of(in_area), procesos))
    low.sort(key=lambda item: item[:2])
    return Perfil(areas, tally_of(everything)), [item[3] for item in low[:TOP_LOW_RATED]]



# --- the plan sections ----------------------------------------------------------------------


def _fuentes(session: Session, sums: dict[str, Summed]) -> list[FuenteCount]:
    labels = {item.value: (FUENTE_LABELS[item], item.external) for item in Fuente}
    own = [int(code.removeprefix(SECRETARIA_FUENTE_PREFIX)) for code in sums
           if code.startswith(SECRETARIA_FUENTE_PREFIX)
           and code.removeprefix(SECRETARIA_FUENTE_PREFIX).isdigit()]
    if own:
        for row in session.scalars(select(FuenteSecretaria)
                                   .where(FuenteSecretaria.id.in_(own))):
            labels[row.code] = (row.nombre, row.externa)
    ranked = sorted(sums.items(), key=lambda pair: (-pair[1].a, pair[0]))
    return [FuenteCount(*labels.get(code, (code, True)), item.a, item.rutas)
            for code, item in ranked]


def _cuts(sums: Sections, section: str, blank: str) -> list[insumos.CutCount]:
    spellings: dict[str, Counter[str]] = {}
    for key, item in sums.get(section + ".spelling", {}).items():
        cut, shown = json.loads(key)
        spellings.setdefault(cut, Counter())[shown] += item.a
    counted = []
    for cut, item in sums.get(section, {}).items():
        label = min(spellings.get(cut, Counter({"": 0})).items(),
                    key=lambda pair: (-pair[1], pair[0]))[0]
        counted.append(insumos.CutCount(label or blank, item.a, item.rutas))
    return sorted(counted, key=lambda item: (-item.hallazgos, -item.schools,
                                             search_key(item.label)))


def _hallazgos(session: Session, sums: Sections, plans: int) -> insumos.HallazgoCuts:
    total = sums.get("hallazgos", {}).get("")
    return insumos.HallazgoCuts(
        _fuentes(session, sums.get("fuente", {})), _cuts(sums, "grado", insumos.NO_GRADE),
        _cuts(sums, "harea", insumos.NO_AREA), total.a if total else 0,
        total.rutas if total else 0, plans)


@dataclass
class ComponenteElegido:
    """``insumos.ComponenteElegido`` with its schools counted by the database."""

    code: str
    name: str
    area_name: str
    order: int
    schools: int
    objetivos: int
    prioritised: int


def _componentes(sums: Sections, plans: int) -> insumos.ComponentesElegidos:
    found = []
    for key, item in sums.get("componente", {}).items():
        area, code, name = json.loads(key)
        found.append(ComponenteElegido(code, name, area, item.position, item.rutas, item.a,
                                       item.b))
    found.sort(key=lambda item: (-item.schools, -item.objetivos, item.order, item.code))
    return insumos.ComponentesElegidos(found, plans)  # type: ignore[arg-type]


class ObservedCriteria:
    """``criteria_observed.ObservedCriteria``'s questions answered from the sums: per round,
    zona and comuna, the plans judged without a rubric and per criterion the plans observed
    on it and its observations."""

    def __init__(self, plans: dict[tuple[int, str, str], int],
                 observed: dict[tuple[int, str, str, int], tuple[int, int]]) -> None:
        self._plans, self._observed = plans, observed

    @property
    def rounds(self) -> list[int]:
        return sorted({number for number, *_ in self._plans})

    def _tallies(self, chosen: Callable[[int, str, str], bool]) -> list[ObservedTally]:
        plans = sum(count for key, count in self._plans.items() if chosen(*key))
        tallies = []
        for criterion in ORDER:
            observed = observations = 0
            for (number, zona, comuna, item), (plans_observed, count) in \
                    self._observed.items():
                if item == criterion and chosen(number, zona, comuna):
                    observed += plans_observed
                    observations += count
            tallies.append(ObservedTally(criterion, plans, observed, observations))
        return tallies

    def count(self, number: int) -> int:
        return sum(count for (item, *_), count in self._plans.items() if item == number)

    def overall(self, number: int) -> list[ObservedTally]:
        return self._tallies(lambda item, *_: item == number)

    def zonas(self, number: int) -> list[tuple[Zona, list[ObservedTally]]]:
        present = {zona for item, zona, _ in self._plans if item == number}
        return [(zona, self._tallies(lambda item, place, _, zona=zona:  # type: ignore[misc]
                                     item == number and place == zona.value))
                for zona in Zona if zona.value in present]

    def comunas(self, number: int) -> list[tuple[Zona, str, list[ObservedTally]]]:
        keys = sorted({(zona, comuna) for item, zona, comuna in self._plans
                       if item == number})
        return [(Zona(zona), comuna, self._tallies(
            lambda item, place, name, zona=zona, comuna=comuna:  # type: ignore[misc]
            item == number and place == zona and name == comuna)) for zona, comuna in keys]


def _geographic(session: Session, scope: Any) -> tuple[RubricShares, ObservedCriteria]:
    order = {criterion: index for index, criterion in enumerate(ORDER)}
    groups: list[tuple[tuple[Any, ...], Group]] = []
    plans: dict[tuple[int, str, str], int] = {}
    observed: dict[tuple[int, str, str, int], tuple[int, int]] = {}
    for section, key, zona, comuna, *values in _sums(
            session, scope, GEOGRAPHIC, SectionSum.zona, SectionSum.comuna):
        item = _summed(values)
        if section == "rubric":
            number, criterion = json.loads(key)
            groups.append(((number, zona, comuna, order.get(criterion, len(order))), Group(
                number, Zona(zona), comuna, Tally(criterion, item.a, item.b, item.c))))
        elif section == "observed.plans":
            plans[(int(key), zona, comuna)] = item.a
        else:
            number, criterion = json.loads(key)
            observed[(number, zona, comuna, criterion)] = (item.a, item.b)
    groups.sort(key=lambda pair: pair[0])
    return RubricShares([group for _, group in groups]), ObservedCriteria(plans, observed)


@dataclass
class AreaResults:
    name: str
    order: tuple[int, str]
    verdicts: Counter[FinalVerdict] = field(default_factory=Counter)
    schools: int = 0

    alcanzadas = property(lambda self: self.verdicts[FinalVerdict.ALCANZADA])
    parciales = property(lambda self: self.verdicts[FinalVerdict.PARCIAL])
    no_alcanzadas = property(lambda self: self.verdicts[FinalVerdict.NO_ALCANZADA])
    metas = property(lambda self: sum(self.verdicts.values()))


@dataclass(frozen=True)
class FinalResults(resultados.FinalResults):
    """Only the lessons the page shows are read; ``lecciones_count`` says how many there are."""

    lecciones_count: int = 0

    @property
    def lecciones_on_page(self) -> list[resultados.Leccion]:
        return self.lecciones

    @property
    def lecciones_hidden(self) -> int:
        return max(self.lecciones_count - len(self.lecciones), 0)


@dataclass(frozen=True)
class LessonSchool:
    """What a lesson shows of its school (no ORM object: the sections are memoised)."""

    id: int
    name: str
    sort_key: str


def _lecciones(session: Session, scope: Any, limit: int) -> list[resultados.Leccion]:
    rows = session.execute(
        scope.aggregates(RutaAggregate.ruta_id, RutaAggregate.state, School.id, School.name,
                         School.sort_key, FinalEvaluation.registered_at,
                         FinalEvaluation.lecciones)
        .join(FinalEvaluation, FinalEvaluation.ruta_id == RutaAggregate.ruta_id)
        .where(FinalEvaluation.registered_at.is_not(None))
        .order_by(bytewise(School.sort_key), RutaAggregate.ruta_id).limit(limit))
    return [resultados.Leccion(LessonSchool(school_id, name, key),  # type: ignore[arg-type]
                               ruta_id, State(state), registered_at, text.strip())
            for ruta_id, state, school_id, name, key, registered_at, text in rows]


def _results(session: Session, scope: Any, sums: Sections, expected: int) -> FinalResults:
    areas = []
    for name, item in sums.get("final.area", {}).items():
        verdicts = Counter({verdict: count for verdict, count in zip(
            (FinalVerdict.ALCANZADA, FinalVerdict.PARCIAL, FinalVerdict.NO_ALCANZADA),
            (item.a, item.b, item.c), strict=True) if count})
        areas.append(AreaResults(name, (item.position, name), verdicts, item.rutas))
    areas.sort(key=lambda area: area.order)
    totals = Counter({FinalVerdict(value): item.a
                      for value, item in sums.get("final.verdict", {}).items() if item.a})
    registered = sums.get("final.registered", {}).get("")
    writing = sums.get("final.writing", {}).get("")
    count = registered.rutas if registered else 0
    lecciones = _lecciones(session, scope, resultados.LESSONS_ON_PAGE) if count else []
    return FinalResults(areas, totals, expected,  # type: ignore[arg-type]
                        count, writing.rutas if writing else 0, lecciones, count)


@dataclass
class SummedComponenteMetas(ComponenteMetas):
    school_count: int = 0

    @property
    def schools(self) -> int:
        return self.school_count


@dataclass
class SummedAreaMetas(AreaMetas):
    school_count: int = 0

    @property
    def schools(self) -> int:
        return self.school_count


def _samples(session: Session, scope: Any, parts: Sequence[str]
             ) -> dict[str, list[MetaSample]]:
    """The first examples of each componente's metas, as ``metas_por_area`` sorts them: one
    LIMITed select per componente (over the examples' index), united."""
    found: dict[str, list[MetaSample]] = {}
    for start in range(0, len(parts), SAMPLE_SELECTS):
        selects = [_filtered(select(RutaSectionCount.part, RutaSectionCount.ruta_id,
                                    RutaSectionCount.sort_name, RutaSectionCount.position,
                                    RutaSectionCount.label), scope, RutaSectionCount)
                   .where(RutaSectionCount.section == "metas.sample",
                          RutaSectionCount.part == part)
                   .order_by(bytewise(RutaSectionCount.sort_name), RutaSectionCount.ruta_id,
                             RutaSectionCount.position)
                   .limit(consolidate.SAMPLE_PER_COMPONENTE).subquery().select()
                   for part in parts[start:start + SAMPLE_SELECTS]]
        rows = session.execute(union_all(*selects) if len(selects) > 1 else selects[0])
        for part, ruta_id, sort_name, position, label in rows:
            school_name, enunciado, cantidad, unidad = json.loads(label)
            found.setdefault(part, []).append(((sort_name, ruta_id, position), MetaSample(
                school_name, ruta_id, enunciado, cantidad, unidad)))  # type: ignore[arg-type]
    return {part: [sample for _, sample in sorted(items, key=lambda pair: pair[0])]
            for part, items in found.items()}  # type: ignore[misc]


def _metas(session: Session, scope: Any, sums: Sections, plans: int) -> MetasPorArea:
    componentes = sums.get("metas.componente", {})
    samples = _samples(session, scope, sorted(componentes))
    unidades: dict[str, list[tuple[str, int]]] = {}
    for key, item in sums.get("metas.unidad", {}).items():
        area, label = json.loads(key)
        unidades.setdefault(area, []).append((label, item.a))
    areas = {name: SummedAreaMetas(name, item.a, school_count=item.rutas, unidades=sorted(
        unidades.get(name, []), key=lambda pair: (-pair[1], pair[0]))[:TOP_UNIDADES])
        for name, item in sums.get("metas.area", {}).items()}
    ordered: dict[str, list[tuple[tuple[int, str], SummedComponenteMetas]]] = {}
    for key, item in componentes.items():
        area, code = json.loads(key)
        ordered.setdefault(area, []).append(((item.position, code), SummedComponenteMetas(
            code, item.label, item.a, samples=samples.get(key, []),
            school_count=item.rutas)))
    for name, area in areas.items():
        area.componentes = [item for _, item in sorted(ordered.get(name, []),
                                                       key=lambda pair: pair[0])]
    positions = {name: item.position for name, item in sums.get("metas.area", {}).items()}
    total = sums.get("metas", {}).get("")
    return MetasPorArea(sorted(areas.values(), key=lambda area: (positions[area.name],
                                                                 area.name)),
                        total.a if total else 0, total.rutas if total else 0, plans)


NON_GEOGRAPHIC = ("hallazgos", "fuente", "grado", "grado.spelling", "harea",
                  "harea.spelling", "componente", "metas", "metas.area", "metas.unidad",
                  "metas.componente", "final.registered", "final.writing", "final.verdict",
                  "final.area")


def sections(session: Session, scope: Any, funnel: Iterable[tuple[State, int]]
             ) -> dict[str, Any]:
    """What ``blueprints.reportes`` passes the template for the plan sections (``rubric``,
    ``secciones``, ``metas_por_area``), under ``scope`` (``summary.Scope``): five or six
    statements, whatever the number of schools."""
    counts = dict(funnel)
    plans = sum(count for state, count in counts.items() if state in PLAN_STATES)
    expected = sum(count for state, count in counts.items() if state in FOLLOW_UP_STATES)
    sums = read_sums(session, scope, NON_GEOGRAPHIC)
    rubric, observed = _geographic(session, scope)
    return {"rubric": rubric,
            "secciones": Secciones(_hallazgos(session, sums, plans),
                                   _componentes(sums, plans),
                                   observed,  # type: ignore[arg-type]
                                   _results(session, scope, sums, expected)),
            "metas_por_area": _metas(session, scope, sums, plans)}

