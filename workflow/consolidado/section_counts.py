"""The plan sections and the municipal perfil of /reportes/, kept per Ruta and summed.

The sections (metas por área, hallazgos by source and cut, componentes worked on, the rubric
and the criteria observed, final results) and the municipal perfil used to be recomputed over
every plan and valoración of the Secretaría on the first view after any change: hundreds of
statements at 10,000 schools. Now each Ruta's contribution is kept as rows of
``ruta_section_counts`` — one per key of a section: a componente's levels in the perfil, a
fuente's hallazgos, a criterion's verdicts in a round, … — and the same counts are kept summed
per group (Secretaría, horizon, zona, comuna) in ``section_sums``, which the page reads
(``section_read``): a GROUP BY over a few thousand rows, whatever the number of schools.

What a Ruta contributes follows the rules of the functions that compute the sections from the
raw rows (``consolidate`` and its ``municipal_perfil``, ``insumos``, ``rubric``,
``criteria_observed``, ``resultados``), which stay as they are (the exports use them):

- the perfil: the levels of a Ruta whose autoevaluación was sent, per componente, under its
  instrument version;
- hallazgos, componentes worked on, metas: only plans sent (``PLAN_STATES``);
- rubric, criteria observed, final results: any Ruta;
- nothing from a school that is not active (the page leaves it out).

``refresh_sections`` recomputes the contributions of some Rutas (the aggregates' session hook,
the daily job and ``ruta consolidado actualizar`` call it through ``aggregates.refresh_rutas``)
and writes only what changed: the rows of the Ruta that differ, and the difference added to
the sums (``INSERT … ON CONFLICT DO UPDATE SET a = a + excluded.a``, atomic on both databases).
The Rutas are locked first (``FOR UPDATE``), so two transactions changing one Ruta apply their
differences one after the other and never from the same old rows; the sums' rows are written
in one order, so two Rutas of one comuna never deadlock. ``rebuild_sums`` recomputes the sums
from the per-Ruta rows (the daily job's last step): a safety net, not a need.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, insert, inspect, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflow.autoevaluacion.models import Priorizacion, Valoracion
from workflow.catalogo.models import CatalogArea, CatalogComponente, CatalogProceso
from workflow.cierre.models import FinalEvaluation, MetaResult
from workflow.cierre.models import Verdict as FinalVerdict
from workflow.consolidado.consolidate import (
    NO_AREA,
    PLAN_STATES,
    SUBMITTED_STATES,
    ObjetivoComponente,
    objetivo_componentes_of,
)
from workflow.consolidado.criteria_observed import DECISIONS, unjudged_decisions
from workflow.consolidado.models import RutaSectionCount, SectionSum
from workflow.models import Ruta, RutaTransition, School
from workflow.pmi.models import (
    Hallazgo,
    Meta,
    Objetivo,
    Observation,
    PmiSnapshot,
    RubricVerdict,
    Verdict,
    objetivo_componentes,
)
from workflow.search_keys import search_key

# Raise it when what a Ruta contributes changes: every Ruta then counts as missing and is
# computed again (by the page for a few, by the daily job for all).
SECTIONS_VERSION = 1
# Examples of metas kept per Ruta and componente: at least what the page shows
# (``consolidate.SAMPLE_PER_COMPONENTE``).
SAMPLE_PER_COMPONENTE = 5
COUNTERS = ("a", "b", "c", "d")
GROUP = ("secretaria_id", "horizon_start_year", "zona", "comuna")


def key_of(*parts: object) -> str:
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))


def packed(*positions: int) -> int:
    """Positions in the instrument (each under 1,000) as one sortable number."""
    value = 0
    for position in positions:
        value = value * 1000 + min(max(position, 0), 999)
    return value


@dataclass
class Count:
    """One row of ``ruta_section_counts`` being computed."""

    a: int = 0
    b: int = 0
    c: int = 0
    d: int = 0
    position: int = 0
    label: str = ""
    part: str = ""
    sort_name: str = ""


class Contributions:
    """What a batch of Rutas contributes: (ruta_id, section, key) → Count."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, str, str], Count] = {}

    def add(self, ruta_id: int, section: str, key: str, *, a: int = 0, b: int = 0,
            c: int = 0, d: int = 0, position: int = 0, label: str = "") -> Count:
        row = self.rows.get((ruta_id, section, key))
        if row is None:
            row = self.rows[(ruta_id, section, key)] = Count(position=position, label=label)
        row.a += a
        row.b += b
        row.c += c
        row.d += d
        return row


@dataclass(frozen=True)
class Place:
    """A Ruta, its state and the group its counts are summed into (None: not counted)."""

    ruta_id: int
    state: Any
    catalog_id: int | None
    school_name: str
    group: tuple[int, int, str, str] | None


def _places(session: Session, ruta_ids: Sequence[int]) -> dict[int, Place]:
    rows = session.execute(
        select(Ruta.id, Ruta.state, Ruta.catalog_id,  # type: ignore[attr-defined]
               Ruta.horizon_start_year, School.secretaria_id, School.zona, School.locality,
               School.active, School.name)
        .join(School, School.id == Ruta.school_id).where(Ruta.id.in_(ruta_ids)))
    return {ruta_id: Place(ruta_id, state, catalog_id, name,
                           (secretaria_id, horizon, zona.value, comuna) if active else None)
            for ruta_id, state, catalog_id, horizon, secretaria_id, zona, comuna, active, name
            in rows}


def _perfil(session: Session, places: dict[int, Place], found: Contributions) -> None:
    pooled = {place.ruta_id: place.catalog_id for place in places.values()
              if place.state in SUBMITTED_STATES and place.catalog_id is not None}
    if not pooled:
        return
    for ruta_id, catalog_id in pooled.items():
        found.add(ruta_id, "perfil.pooled", str(catalog_id))
    for ruta_id, componente_id, level in session.execute(
            select(Valoracion.ruta_id, Valoracion.componente_id, Valoracion.level)
            .where(Valoracion.ruta_id.in_(list(pooled)), Valoracion.level.is_not(None))):
        levels = {name: int(level == index) for index, name in enumerate(COUNTERS, 1)}
        found.add(ruta_id, "perfil", key_of(pooled[ruta_id], componente_id),
                  **levels).part = str(pooled[ruta_id])


def _hallazgos(session: Session, ruta_ids: Sequence[int], found: Contributions) -> None:
    for ruta_id, fuente, grado, area in session.execute(
            select(Hallazgo.ruta_id, Hallazgo.fuente, Hallazgo.grado, Hallazgo.area)
            .where(Hallazgo.ruta_id.in_(ruta_ids))):
        found.add(ruta_id, "hallazgos", "", a=1)
        found.add(ruta_id, "fuente", fuente, a=1)
        for section, text in (("grado", grado), ("harea", area)):
            shown = " ".join((text or "").split())
            found.add(ruta_id, section, search_key(shown), a=1)
            found.add(ruta_id, section + ".spelling", key_of(search_key(shown), shown), a=1)


def _componentes(session: Session, ruta_ids: Sequence[int], found: Contributions) -> None:
    columns = (CatalogComponente.code, CatalogComponente.name, CatalogArea.name,
               CatalogArea.position, CatalogProceso.position, CatalogComponente.position)
    worked: set[tuple[int, str]] = set()
    for code, name, area, area_pos, proceso_pos, position, ruta_id in session.execute(
            select(*columns, Objetivo.ruta_id)
            .join(objetivo_componentes,
                  objetivo_componentes.c.componente_id == CatalogComponente.id)
            .join(Objetivo, Objetivo.id == objetivo_componentes.c.objetivo_id)
            .join(CatalogProceso, CatalogProceso.id == CatalogComponente.proceso_id)
            .join(CatalogArea, CatalogArea.id == CatalogProceso.area_id)
            .where(Objetivo.ruta_id.in_(ruta_ids))):
        key = key_of(area, code, name)
        found.add(ruta_id, "componente", key, a=1,
                  position=packed(area_pos, proceso_pos, position))
        worked.add((ruta_id, key))
    for code, name, area, *_, ruta_id in session.execute(
            select(*columns, Priorizacion.ruta_id)
            .join(Priorizacion, Priorizacion.componente_id == CatalogComponente.id)
            .join(CatalogProceso, CatalogProceso.id == CatalogComponente.proceso_id)
            .join(CatalogArea, CatalogArea.id == CatalogProceso.area_id)
            .where(Priorizacion.ruta_id.in_(ruta_ids))):
        key = key_of(area, code, name)
        if (ruta_id, key) in worked:
            found.rows[(ruta_id, "componente", key)].b = 1


def _metas(session: Session, places: dict[int, Place], ruta_ids: Sequence[int],
           found: Contributions) -> None:
    links = objetivo_componentes_of(session, ruta_ids)
    samples: dict[tuple[int, str, str], int] = {}
    for ruta_id, objetivo_id, enunciado, cantidad, unidad in session.execute(
            select(Meta.ruta_id, Meta.objetivo_id, Meta.enunciado, Meta.cantidad,
                   Meta.unidad).where(Meta.ruta_id.in_(ruta_ids)).order_by(Meta.id)):
        found.add(ruta_id, "metas", "", a=1)
        linked = links.get(objetivo_id) or [ObjetivoComponente(NO_AREA, 10**6, 0, 0, "", "")]
        seen_areas: set[str] = set()
        school_name = places[ruta_id].school_name
        for item in linked:
            if item.area_name not in seen_areas:
                seen_areas.add(item.area_name)
                found.add(ruta_id, "metas.area", item.area_name, a=1,
                          position=min(item.area_position, 10**9))
                label = " ".join((unidad or "").split()).lower()
                if label:
                    found.add(ruta_id, "metas.unidad", key_of(item.area_name, label), a=1)
            found.add(ruta_id, "metas.componente", key_of(item.area_name, item.code), a=1,
                      position=packed(item.proceso_position, item.position), label=item.name)
            taken = samples.get((ruta_id, item.area_name, item.code), 0)
            if taken < SAMPLE_PER_COMPONENTE:
                samples[(ruta_id, item.area_name, item.code)] = taken + 1
                row = found.add(ruta_id, "metas.sample", key_of(item.area_name, item.code,
                                                                taken),
                                position=taken, label=json.dumps(
                                    [school_name, enunciado, cantidad, unidad],
                                    ensure_ascii=False))
                row.part = key_of(item.area_name, item.code)
                row.sort_name = school_name.lower()[:300]


def _rubric(session: Session, ruta_ids: Sequence[int], found: Contributions) -> None:
    for ruta_id, number, criterion, judged, no_cumple, parcial in session.execute(
            select(RubricVerdict.ruta_id, RubricVerdict.round, RubricVerdict.criterion,
                   func.count(RubricVerdict.id),
                   func.sum(_is(RubricVerdict.verdict, Verdict.NO_CUMPLE)),
                   func.sum(_is(RubricVerdict.verdict, Verdict.PARCIAL)))
            .where(RubricVerdict.ruta_id.in_(ruta_ids))
            .group_by(RubricVerdict.ruta_id, RubricVerdict.round, RubricVerdict.criterion)):
        found.add(ruta_id, "rubric", key_of(number, criterion), a=judged,
                  b=int(no_cumple or 0), c=int(parcial or 0))


def _is(column: Any, value: Any) -> Any:
    return case((column == value, 1), else_=0)


def _observed(session: Session, ruta_ids: Sequence[int], found: Contributions) -> None:
    """``criteria_observed.observed_criteria``, per Ruta."""
    for ruta_id, number, criteria in unjudged_decisions(session, ruta_ids):
        found.add(ruta_id, "observed.plans", str(number), a=1)
        for criterion, count in criteria.items():
            if count:
                found.add(ruta_id, "observed", key_of(number, criterion), a=1, b=count)


def _final(session: Session, ruta_ids: Sequence[int], found: Contributions) -> None:
    done: list[int] = []
    for ruta_id, registered_at in session.execute(
            select(FinalEvaluation.ruta_id, FinalEvaluation.registered_at)
            .where(FinalEvaluation.ruta_id.in_(ruta_ids))):
        if registered_at is None:
            found.add(ruta_id, "final.writing", "")
        else:
            found.add(ruta_id, "final.registered", "")
            done.append(ruta_id)
    if not done:
        return
    links = objetivo_componentes_of(session, done)
    column = {FinalVerdict.ALCANZADA: "a", FinalVerdict.PARCIAL: "b",
              FinalVerdict.NO_ALCANZADA: "c"}
    for ruta_id, objetivo_id, verdict in session.execute(
            select(MetaResult.ruta_id, Meta.objetivo_id, MetaResult.verdict)
            .join(Meta, Meta.id == MetaResult.meta_id).where(MetaResult.ruta_id.in_(done))):
        found.add(ruta_id, "final.verdict", verdict.value, a=1)
        linked = links.get(objetivo_id) or [ObjetivoComponente(NO_AREA, 10**6, 0, 0, "", "")]
        positions: dict[str, int] = {}
        for item in linked:
            positions.setdefault(item.area_name, item.area_position)
        for area_name, position in positions.items():
            found.add(ruta_id, "final.area", area_name, position=min(position, 10**9),
                      **{column[verdict]: 1})


# Each kind of count, its sections, and the rows whose change can move it: a flush that
# wrote only valoraciones recomputes only the perfil of their Rutas. A change of the Ruta
# itself (state, instrument) or of its school (name, zona, comuna, active) moves every kind.
KINDS: dict[str, tuple[str, ...]] = {
    "perfil": ("perfil", "perfil.pooled"),
    "hallazgos": ("hallazgos", "fuente", "grado", "grado.spelling", "harea",
                  "harea.spelling"),
    "componentes": ("componente",),
    "metas": ("metas", "metas.area", "metas.unidad", "metas.componente", "metas.sample"),
    "rubric": ("rubric",),
    "observed": ("observed", "observed.plans"),
    "final": ("final.registered", "final.writing", "final.verdict", "final.area"),
}
EVERY_KIND = frozenset(KINDS)
SOURCES: dict[type, frozenset[str]] = {
    Valoracion: frozenset({"perfil"}),
    Hallazgo: frozenset({"hallazgos"}),
    Objetivo: frozenset({"componentes", "metas", "final"}),
    Meta: frozenset({"metas", "final"}),
    Priorizacion: frozenset({"componentes"}),
    RubricVerdict: frozenset({"rubric", "observed"}),
    RutaTransition: frozenset({"observed"}),
    Observation: frozenset({"observed"}),
    PmiSnapshot: frozenset({"observed"}),
    FinalEvaluation: frozenset({"final"}),
    MetaResult: frozenset({"final"}),
}


# What of a Ruta its counts hang on besides its state: the instrument, the horizon, the
# school (the group they are summed into).
RUTA_PLACE = ("catalog_id", "horizon_start_year", "school_id")


def kinds_moved_by_ruta(ruta: Ruta) -> frozenset[str]:
    """The kinds of counts a flushed change of a stored Ruta can move: all of them when it
    moved to another instrument, horizon or school, or when its state crossed into or out of
    the states whose perfil or plan count (``SUBMITTED_STATES``, ``PLAN_STATES``); none for
    the rest (a transition inside them, as the daily pass starting a seguimiento, the
    reviewer taken, the version): its transition row moves what it moves
    (``RutaTransition`` in ``SOURCES``). Read from the attributes' history, so only inside
    ``after_flush``; what the history does not know counts as a change."""
    attributes = inspect(ruta).attrs
    if any(attributes[name].history.has_changes() for name in RUTA_PLACE):
        return EVERY_KIND
    history = attributes["state"].history
    if not history.has_changes():
        return frozenset()
    if not history.deleted or not history.added:
        return EVERY_KIND
    before, after = history.deleted[0], history.added[0]
    if any((before in states) != (after in states)
           for states in (SUBMITTED_STATES, PLAN_STATES)):
        return EVERY_KIND
    return frozenset()


def kinds_moved_by(item: object) -> frozenset[str]:
    """The kinds of counts a written row with a ``ruta_id`` can move (none for most; of the
    transitions, only the decisions on a plan count: ``unjudged_decisions``)."""
    if isinstance(item, RutaTransition) and item.trigger not in DECISIONS:
        return frozenset()
    for cls in type(item).__mro__:
        if cls in SOURCES:
            return SOURCES[cls]
    return frozenset()


def contributions(session: Session, places: dict[int, Place],
                  kinds: Mapping[int, frozenset[str]] | None = None) -> Contributions:
    """What the Rutas of ``places`` contribute now (a dozen statements per batch); with
    ``kinds``, only those kinds of counts of each Ruta."""
    found = Contributions()
    counted = {ruta_id: place for ruta_id, place in places.items() if place.group is not None}

    def wanting(kind: str) -> list[int]:
        return [ruta_id for ruta_id in counted
                if kinds is None or kind in kinds.get(ruta_id, EVERY_KIND)]

    if not counted:
        return found
    plans = [ruta_id for ruta_id in counted if counted[ruta_id].state in PLAN_STATES]
    chosen = set(wanting("perfil"))
    if chosen:
        _perfil(session, {ruta_id: counted[ruta_id] for ruta_id in chosen}, found)
    for kind, compute in (("hallazgos", _hallazgos), ("componentes", _componentes)):
        ids = [ruta_id for ruta_id in wanting(kind) if ruta_id in plans]
        if ids:
            compute(session, ids, found)
    ids = [ruta_id for ruta_id in wanting("metas") if ruta_id in plans]
    if ids:
        _metas(session, counted, ids, found)
    for kind, compute in (("rubric", _rubric), ("observed", _observed), ("final", _final)):
        ids = wanting(kind)
        if ids:
            compute(session, ids, found)
    return found


# --- writing what changed -------------------------------------------------------------------


def _insert(session: Session) -> Any:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql"
            else sqlite.insert)


def _add_to_sums(session: Session, deltas: dict[tuple[Any, ...], list[int]],
                 firsts: dict[tuple[Any, ...], tuple[int, str]]) -> None:
    """Add ``deltas`` (group + section + key → rutas, a, b, c, d) to the sums, in key order."""
    rows = []
    for key in sorted(item for item, values in deltas.items() if any(values)):
        position, label = firsts.get(key, (0, ""))
        rows.append(dict(zip((*GROUP, "section", "key"), key, strict=True),
                         rutas=deltas[key][0], a=deltas[key][1], b=deltas[key][2],
                         c=deltas[key][3], d=deltas[key][4], position=position, label=label))
    if not rows:
        return
    statement = _insert(session)(SectionSum)
    table = SectionSum.__table__
    session.execute(statement.on_conflict_do_update(
        index_elements=[*GROUP, "section", "key"],
        set_={name: table.c[name] + statement.excluded[name]
              for name in ("rutas", *COUNTERS)}), rows)
    if any(values[0] < 0 for values in deltas.values()):
        emptied = [key for key, values in deltas.items() if values[0] < 0]
        session.execute(delete(SectionSum).where(
            SectionSum.rutas <= 0,
            tuple_(*(getattr(SectionSum, name) for name in (*GROUP, "section", "key")))
            .in_(emptied)))


def refresh_sections(session: Session, ruta_ids: Iterable[int], *, locked: bool = False,
                     kinds: Mapping[int, frozenset[str]] | None = None) -> int:
    """Recompute the section counts of ``ruta_ids`` (at most a batch: the caller chunks) and
    write what changed, rows and sums. Flushes; never commits. Returns the rows changed.
    ``locked``: the caller holds the Rutas' row locks already (``refresh_rutas`` does).
    ``kinds``: per Ruta, only these kinds of counts (``KINDS``; a Ruta not in it: all)."""
    wanted = sorted(ruta_id for ruta_id in set(ruta_ids)
                    if kinds is None or kinds.get(ruta_id, EVERY_KIND))
    if not wanted:
        return 0
    if not locked:
        # Locked before anything is read: see the module's docstring.
        session.execute(select(Ruta.id).where(Ruta.id.in_(wanted)).order_by(Ruta.id)
                        .with_for_update())
    statement = select(RutaSectionCount.__table__).where(RutaSectionCount.ruta_id.in_(wanted))
    chosen: set[str] | None = None
    if kinds is not None:
        chosen = {section for ruta_id in wanted
                  for kind in kinds.get(ruta_id, EVERY_KIND) for section in KINDS[kind]}
        statement = statement.where(RutaSectionCount.section.in_(sorted(chosen)))
    old = {(row.ruta_id, row.section, row.key): row for row in session.execute(statement)
           if kinds is None or row.section in _sections_of(kinds.get(row.ruta_id, EVERY_KIND))}
    places = _places(session, wanted)
    new = contributions(session, places, kinds).rows
    deltas: dict[tuple[Any, ...], list[int]] = {}
    firsts: dict[tuple[Any, ...], tuple[int, str]] = {}

    def shift(group: tuple[Any, ...], section: str, key: str, sign: int,
              values: Sequence[int]) -> None:
        if section == "metas.sample":
            return
        found = deltas.setdefault((*group, section, key), [0, 0, 0, 0, 0])
        found[0] += sign
        for index, value in enumerate(values, 1):
            found[index] += sign * value

    removed: list[tuple[int, str, str]] = []
    added: list[dict[str, Any]] = []
    for ident, row in old.items():
        place = places.get(ident[0])
        counted = new.get(ident)
        group = (row.secretaria_id, row.horizon_start_year, row.zona, row.comuna)
        if (counted is not None and place is not None and place.group == group
                and _same(row, counted)):
            continue
        removed.append(ident)
        shift(group, ident[1], ident[2], -1, [row.a, row.b, row.c, row.d])
    gone = set(removed)
    for ident, counted in new.items():
        if ident in old and ident not in gone:
            continue
        group = places[ident[0]].group
        assert group is not None
        added.append({"ruta_id": ident[0], "section": ident[1], "key": ident[2],
                      **dict(zip(GROUP, group, strict=True)), "a": counted.a, "b": counted.b,
                      "c": counted.c, "d": counted.d, "position": counted.position,
                      "label": counted.label, "part": counted.part,
                      "sort_name": counted.sort_name})
        shift(group, ident[1], ident[2], 1, [counted.a, counted.b, counted.c, counted.d])
        firsts.setdefault((*group, ident[1], ident[2]), (counted.position, counted.label))
    for start in range(0, len(removed), 500):
        session.execute(delete(RutaSectionCount).where(
            tuple_(RutaSectionCount.ruta_id, RutaSectionCount.section, RutaSectionCount.key)
            .in_(removed[start:start + 500])))
    if added:
        session.execute(insert(RutaSectionCount), added)
    _add_to_sums(session, deltas, firsts)
    return len(removed) + len(added)


def _sections_of(kinds: frozenset[str]) -> set[str]:
    return {section for kind in kinds for section in KINDS[kind]}


def _same(row: Any, counted: Count) -> bool:
    return ((row.a, row.b, row.c, row.d, row.position, row.label, row.part, row.sort_name)
            == (counted.a, counted.b, counted.c, counted.d, counted.position, counted.label,
                counted.part, counted.sort_name))


def rebuild_sums(session: Session) -> int:
    """The sums again from the per-Ruta rows (flushes, never commits): what the hook keeps
    up to date, recomputed whole by the daily job in case anything bypassed it."""
    session.execute(delete(SectionSum))
    summed = (select(*(getattr(RutaSectionCount, name) for name in GROUP),
                     RutaSectionCount.section, RutaSectionCount.key, func.count(),
                     *(func.sum(getattr(RutaSectionCount, name)) for name in COUNTERS),
                     func.min(RutaSectionCount.position), func.min(RutaSectionCount.label))
              .where(RutaSectionCount.section != "metas.sample")
              .group_by(*(getattr(RutaSectionCount, name) for name in GROUP),
                        RutaSectionCount.section, RutaSectionCount.key))
    result = session.execute(insert(SectionSum).from_select(
        [*GROUP, "section", "key", "rutas", *COUNTERS, "position", "label"], summed))
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
