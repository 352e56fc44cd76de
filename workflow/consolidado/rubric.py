"""The reviewers' rubrics, consolidated: the share of plans failing each criterion.

For every review round (the 1st, 2nd, … submission of a plan: the number of the snapshot
judged), every criterion of Circular 0488 and divulgación: how many plans the Secretaría judged,
how many «no cumple» and how many «cumple parcialmente», in total and per zona and comuna (or
corregimiento). Rutas are those of the consolidado (its scope, horizon and filters); the counts
are computed by the database, ``consolidado.BATCH`` Rutas per GROUP BY query, so the number of
schools only adds queries, never rows in memory (the result has one row per round × zona ×
comuna × criterion). Decisions recorded before the rubric existed have none and count nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from workflow.consolidado.consolidate import Consolidado, batches
from workflow.models import Ruta, School, Zona
from workflow.pmi.criteria_names import (
    CRITERION_LABELS,
)
from workflow.pmi.models import (
    RubricVerdict,
    Verdict,
)
from workflow.pmi.rubric import OBLIGATORY, ORDER, short_label


class CriterionNamed:
    """How a criterion of Circular 0488 (or divulgación) reads on the page and the sheets,
    for a tally that has a ``criterion``."""

    criterion: int

    @property
    def label(self) -> str:
        return CRITERION_LABELS[self.criterion]

    @property
    def short_label(self) -> str:
        return short_label(self.criterion)

    @property
    def obligatory(self) -> bool:
        return self.criterion in OBLIGATORY


@dataclass(frozen=True)
class Tally(CriterionNamed):
    """One criterion in one round (and group): plans judged, «no cumple», «parcialmente»."""

    criterion: int
    judged: int = 0
    no_cumple: int = 0
    parcial: int = 0

    @property
    def no_cumple_share(self) -> float | None:
        return self.no_cumple / self.judged if self.judged else None

    @property
    def parcial_share(self) -> float | None:
        return self.parcial / self.judged if self.judged else None

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.criterion, self.judged + other.judged,
                     self.no_cumple + other.no_cumple, self.parcial + other.parcial)


@dataclass(frozen=True)
class Group:
    """A row of the GROUP BY: one round, zona, comuna and criterion."""

    round: int
    zona: Zona
    comuna: str
    tally: Tally


def _summed(groups: Iterable[Group]) -> list[Tally]:
    totals = {criterion: Tally(criterion) for criterion in ORDER}
    for group in groups:
        totals[group.tally.criterion] = totals[group.tally.criterion] + group.tally
    return [totals[criterion] for criterion in ORDER]


@dataclass(frozen=True)
class RubricShares:
    groups: list[Group]

    @property
    def rounds(self) -> list[int]:
        return sorted({group.round for group in self.groups})

    def overall(self, number: int) -> list[Tally]:
        """Every criterion of round ``number``, all zonas and comunas together."""
        return _summed(group for group in self.groups if group.round == number)

    def plans(self, number: int) -> int:
        """How many plans the Secretaría judged in round ``number``."""
        return max((tally.judged for tally in self.overall(number)), default=0)

    def zonas(self, number: int) -> list[tuple[Zona, list[Tally]]]:
        present = [zona for zona in Zona if any(
            group.round == number and group.zona is zona for group in self.groups)]
        return [(zona, _summed(group for group in self.groups
                               if group.round == number and group.zona is zona))
                for zona in present]

    def comunas(self, number: int) -> list[tuple[Zona, str, list[Tally]]]:
        keys = sorted({(group.zona.value, group.comuna) for group in self.groups
                       if group.round == number})
        return [(Zona(zona), comuna, _summed(
            group for group in self.groups if group.round == number
            and group.zona.value == zona and group.comuna == comuna))
            for zona, comuna in keys]


def rubric_shares(session: Session, data: Consolidado) -> RubricShares:
    """The rubric counts of the Rutas in ``data`` (one GROUP BY query per batch)."""
    ruta_ids = [row.ruta.id for row in data.schools if row.ruta is not None]
    sums: dict[tuple[int, Zona, str, int], Tally] = {}
    for chunk in batches(ruta_ids):
        rows = session.execute(
            select(RubricVerdict.round, School.zona, School.locality, RubricVerdict.criterion,
                   func.count(RubricVerdict.id),
                   func.sum(case((RubricVerdict.verdict == Verdict.NO_CUMPLE, 1), else_=0)),
                   func.sum(case((RubricVerdict.verdict == Verdict.PARCIAL, 1), else_=0)))
            .join(Ruta, Ruta.id == RubricVerdict.ruta_id)
            .join(School, School.id == Ruta.school_id)
            .where(RubricVerdict.ruta_id.in_(chunk))
            .group_by(RubricVerdict.round, School.zona, School.locality,
                      RubricVerdict.criterion))
        for number, zona, comuna, criterion, judged, no_cumple, parcial in rows:
            key = (number, zona, comuna, criterion)
            sums[key] = sums.get(key, Tally(criterion)) + Tally(
                criterion, judged, int(no_cumple or 0), int(parcial or 0))
    order = {criterion: index for index, criterion in enumerate(ORDER)}
    groups = [Group(number, zona, comuna, tally)
              for (number, zona, comuna, criterion), tally in sorted(
                  sums.items(), key=lambda item: (item[0][0], item[0][1].value, item[0][2],
                                                  order[item[0][3]]))]
    return RubricShares(groups)


# --- the export sheet ---------------------------------------------------------------------

SHEET_HEADER = ("Revisión (envío)", "Zona", "Comuna o corregimiento", "Criterio",
                "Descripción", "Obligatorio", "Planes valorados", "No cumple",
                "% no cumple", "Cumple parcialmente", "% cumple parcialmente")
ALL = "Todas"


def _percent(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 1)


def _cells(number: int, zona: str, comuna: str, tally: Tally) -> tuple[object, ...]:
    return (number, zona, comuna, tally.short_label, tally.label,
            "Sí" if tally.obligatory else "No", tally.judged, tally.no_cumple,
            _percent(tally.no_cumple_share), tally.parcial, _percent(tally.parcial_share))


def sheet_rows(shares: RubricShares) -> list[tuple[object, ...]]:
    """Per round: every criterion in total, then per zona, then per comuna."""
    rows: list[tuple[object, ...]] = []
    for number in shares.rounds:
        rows += [_cells(number, ALL, ALL, tally) for tally in shares.overall(number)]
        for zona, tallies in shares.zonas(number):
            rows += [_cells(number, zona.label, ALL, tally) for tally in tallies]
        for zona, comuna, tallies in shares.comunas(number):
            rows += [_cells(number, zona.label, comuna, tally) for tally in tallies]
    return rows
