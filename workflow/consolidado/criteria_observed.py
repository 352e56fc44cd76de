"""The criteria plans fail on, for review decisions recorded without a rubric.

Since the rubric exists every decision (return or approval) stores a verdict per criterion,
consolidated by ``workflow.consolidado.rubric``. A decision recorded before it has no
verdicts, but its itemized observations are tagged with the criterion of Circular 0488 they
concern (``Observation.criterion``). For those decisions only, this module counts per round:
how many plans were judged without a rubric, and how many of them received at least one
observation on each criterion (a plan with three observations on criterion 3 counts once;
the number of observations is given beside it).

A decision is a ``devolver`` or ``aprobar`` row of the Ruta's audit trail. Its round is the
number of the PMI version it judged (``extra["snapshot_id"]``), or its position among the
Ruta's decisions when the plan was sent before versions existed (as the rubric counts them).
The observations of a return are those it sent: their ``returned_at`` is the return's moment
(``workflow.pmi.actions.return_with_observations``). An approval without a rubric judged the
plan with no observation left open: it counts as judged, failing nothing. Decisions that have
a rubric never count here, so no plan is counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.consolidado.consolidate import Consolidado, batches
from workflow.consolidado.id_lists import among
from workflow.consolidado.rubric import CriterionNamed
from workflow.models import Ruta, RutaTransition, School, Zona
from workflow.pmi.models import Observation, PmiSnapshot, RubricVerdict
from workflow.pmi.rubric import ORDER
from workflow.states import Trigger

DECISIONS = (Trigger.DEVOLVER.value, Trigger.APROBAR.value)


@dataclass(frozen=True)
class ObservedTally(CriterionNamed):
    """One criterion in one round (and zona): plans judged without a rubric, plans with at
    least one observation on it, and its observations."""

    criterion: int
    plans: int = 0
    observed: int = 0
    observations: int = 0

    @property
    def share(self) -> float | None:
        return self.observed / self.plans if self.plans else None


@dataclass(frozen=True)
class JudgedPlan:
    """One decision without a rubric: its round, where the school is, what was observed."""

    round: int
    zona: Zona
    comuna: str
    # criterion → observations sent by the decision.
    criteria: dict[int, int]


def _tallies(plans: Iterable[JudgedPlan]) -> list[ObservedTally]:
    chosen = list(plans)
    return [ObservedTally(criterion, len(chosen),
                          sum(1 for plan in chosen if plan.criteria.get(criterion)),
                          sum(plan.criteria.get(criterion, 0) for plan in chosen))
            for criterion in ORDER]


@dataclass(frozen=True)
class ObservedCriteria:
    plans: list[JudgedPlan]

    @property
    def rounds(self) -> list[int]:
        return sorted({plan.round for plan in self.plans})

    def count(self, number: int) -> int:
        return sum(1 for plan in self.plans if plan.round == number)

    def overall(self, number: int) -> list[ObservedTally]:
        return _tallies(plan for plan in self.plans if plan.round == number)

    def zonas(self, number: int) -> list[tuple[Zona, list[ObservedTally]]]:
        return [(zona, _tallies(plan for plan in self.plans
                                if plan.round == number and plan.zona is zona))
                for zona in Zona if any(plan.round == number and plan.zona is zona
                                        for plan in self.plans)]

    def comunas(self, number: int) -> list[tuple[Zona, str, list[ObservedTally]]]:
        keys = sorted({(plan.zona.value, plan.comuna) for plan in self.plans
                       if plan.round == number})
        return [(Zona(zona), comuna, _tallies(
            plan for plan in self.plans if plan.round == number
            and plan.zona.value == zona and plan.comuna == comuna)) for zona, comuna in keys]


def unjudged_decisions(session: Session, ruta_ids: Sequence[int]
                       ) -> list[tuple[int, int, dict[int, int]]]:
    """Each decision (return or approval) taken without a rubric on ``ruta_ids``, oldest first
    per Ruta: (Ruta id, the round: the snapshot's number, else the decision's position, and
    for a return the observations it sent per criterion). A few queries for all of them."""
    decisions = session.execute(
        select(RutaTransition.id, RutaTransition.ruta_id, RutaTransition.trigger,
               RutaTransition.at, RutaTransition.extra)
        .where(among(session, RutaTransition.ruta_id, ruta_ids),
               RutaTransition.trigger.in_(DECISIONS))
        .order_by(RutaTransition.ruta_id, RutaTransition.at, RutaTransition.id)).all()
    if not decisions:
        return []
    with_rubric = set(session.scalars(select(RubricVerdict.transition_id).distinct()
                                      .where(among(session, RubricVerdict.ruta_id, ruta_ids))))
    snapshot_ids = {int(extra["snapshot_id"]) for *_, extra in decisions
                    if isinstance(extra, dict) and extra.get("snapshot_id")}
    numbers = dict(session.execute(select(PmiSnapshot.id, PmiSnapshot.number)
                                   .where(PmiSnapshot.id.in_(snapshot_ids))).all()
                   ) if snapshot_ids else {}
    sent: dict[tuple[int, datetime], dict[int, int]] = {}
    for ruta_id, returned_at, criterion in session.execute(
            select(Observation.ruta_id, Observation.returned_at, Observation.criterion)
            .where(among(session, Observation.ruta_id, ruta_ids),
                   Observation.returned_at.is_not(None))):
        criteria = sent.setdefault((ruta_id, returned_at), {})
        criteria[criterion] = criteria.get(criterion, 0) + 1
    found: list[tuple[int, int, dict[int, int]]] = []
    position: dict[int, int] = {}
    for transition_id, ruta_id, trigger, at, extra in decisions:
        position[ruta_id] = position.get(ruta_id, 0) + 1
        if transition_id in with_rubric:
            continue
        snapshot_id = extra.get("snapshot_id") if isinstance(extra, dict) else None
        number = (numbers.get(int(snapshot_id)) if snapshot_id else None) or position[ruta_id]
        criteria = sent.get((ruta_id, at), {}) if trigger == Trigger.DEVOLVER.value else {}
        found.append((ruta_id, number, dict(criteria)))
    return found


def observed_criteria(session: Session, data: Consolidado) -> ObservedCriteria:
    """The decisions without a rubric of the Rutas in ``data`` (a few queries per batch)."""
    ruta_ids = [row.ruta.id for row in data.schools if row.ruta is not None]
    plans: list[JudgedPlan] = []
    for chunk in batches(ruta_ids):
        places = {ruta_id: (zona, comuna) for ruta_id, zona, comuna in session.execute(
            select(Ruta.id, School.zona, School.locality)
            .join(School, School.id == Ruta.school_id).where(among(session, Ruta.id, chunk)))}
        for ruta_id, number, criteria in unjudged_decisions(session, chunk):
            zona, comuna = places[ruta_id]
            plans.append(JudgedPlan(number, zona, comuna, criteria))
    return ObservedCriteria(plans)


# --- the export sheet ---------------------------------------------------------------------

SHEET_HEADER = ("Revisión (envío)", "Zona", "Comuna o corregimiento", "Criterio",
                "Descripción", "Obligatorio", "Planes valorados sin rúbrica",
                "Planes con observaciones en el criterio", "% con observaciones",
                "Observaciones")
ALL = "Todas"


def _cells(number: int, zona: str, comuna: str, tally: ObservedTally) -> tuple[object, ...]:
    share = tally.share
    return (number, zona, comuna, tally.short_label, tally.label,
            "Sí" if tally.obligatory else "No", tally.plans, tally.observed,
            None if share is None else round(100 * share, 1), tally.observations)


def sheet_rows(observed: ObservedCriteria) -> list[tuple[object, ...]]:
    """Per round: every criterion in total, then per zona, then per comuna."""
    rows: list[tuple[object, ...]] = []
    for number in observed.rounds:
        rows += [_cells(number, ALL, ALL, tally) for tally in observed.overall(number)]
        for zona, tallies in observed.zonas(number):
            rows += [_cells(number, zona.label, ALL, tally) for tally in tallies]
        for zona, comuna, tallies in observed.comunas(number):
            rows += [_cells(number, zona.label, comuna, tally) for tally in tallies]
    return rows
