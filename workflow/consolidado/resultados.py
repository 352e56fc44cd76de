"""The end of a horizon: metas alcanzadas, parcialmente, no alcanzadas per área, and the
lessons learned.

Only final evaluations the school registered count (``FinalEvaluation.registered_at``): a
final evaluation being written is not a result yet. A meta belongs to the área(s) of its
objetivo's componentes, as in the metas por área (a meta whose objetivo addresses two áreas
counts in both; the totals count it once). The page says how many of the Rutas that reached
seguimiento have registered their final evaluation, how many are writing it, and how many have
not begun.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.cierre.models import FinalEvaluation, MetaResult, Verdict
from workflow.consolidado.consolidate import (
    FOLLOW_UP_STATES,
    NO_AREA,
    ObjetivoComponente,
    SchoolRow,
    batches,
    objetivo_componentes_of,
)
from workflow.models import School
from workflow.pmi.models import Meta
from workflow.states import State

LESSONS_ON_PAGE = 10


@dataclass
class AreaResults:
    name: str
    order: tuple[int, str]
    verdicts: Counter[Verdict] = field(default_factory=Counter)
    school_ids: set[int] = field(default_factory=set)

    @property
    def alcanzadas(self) -> int:
        return self.verdicts[Verdict.ALCANZADA]

    @property
    def parciales(self) -> int:
        return self.verdicts[Verdict.PARCIAL]

    @property
    def no_alcanzadas(self) -> int:
        return self.verdicts[Verdict.NO_ALCANZADA]

    @property
    def metas(self) -> int:
        return sum(self.verdicts.values())

    @property
    def schools(self) -> int:
        return len(self.school_ids)


@dataclass(frozen=True)
class Leccion:
    school: School
    ruta_id: int
    state: State
    registered_at: datetime
    text: str


@dataclass(frozen=True)
class FinalResults:
    areas: list[AreaResults]
    totals: Counter[Verdict]
    # Rutas that reached seguimiento (they owe a final evaluation at the horizon's end),
    # those whose final evaluation is registered, and those writing one.
    expected: int
    registered: int
    writing: int
    lecciones: list[Leccion]

    @property
    def metas(self) -> int:
        return sum(self.totals.values())

    @property
    def not_begun(self) -> int:
        return max(self.expected - self.registered - self.writing, 0)

    @property
    def lecciones_on_page(self) -> list[Leccion]:
        return self.lecciones[:LESSONS_ON_PAGE]

    @property
    def lecciones_hidden(self) -> int:
        return max(len(self.lecciones) - LESSONS_ON_PAGE, 0)


def final_results(session: Session, rows: Sequence[SchoolRow]) -> FinalResults:
    """The registered final evaluations of the Rutas in ``rows`` (the consolidado's schools)."""
    by_ruta = {row.ruta.id: row for row in rows if row.ruta is not None}
    expected = sum(1 for row in by_ruta.values()
                   if row.ruta is not None and row.ruta.state in FOLLOW_UP_STATES)
    areas: dict[str, AreaResults] = {}
    totals: Counter[Verdict] = Counter()
    lecciones: list[Leccion] = []
    registered = writing = 0
    for chunk in batches(list(by_ruta)):
        evaluations = list(session.scalars(select(FinalEvaluation).where(
            FinalEvaluation.ruta_id.in_(chunk))))
        done = [item for item in evaluations if item.registered_at is not None]
        registered += len(done)
        writing += len(evaluations) - len(done)
        for item in done:
            row = by_ruta[item.ruta_id]
            assert row.ruta is not None and item.registered_at is not None
            lecciones.append(Leccion(row.school, row.ruta.id, row.ruta.state,
                                     item.registered_at, item.lecciones.strip()))
        done_ids = [item.ruta_id for item in done]
        if not done_ids:
            continue
        links = objetivo_componentes_of(session, done_ids)
        for ruta_id, objetivo_id, verdict in session.execute(
                select(MetaResult.ruta_id, Meta.objetivo_id, MetaResult.verdict)
                .join(Meta, Meta.id == MetaResult.meta_id)
                .where(MetaResult.ruta_id.in_(done_ids))):
            totals[verdict] += 1
            linked = links.get(objetivo_id) or [ObjetivoComponente(NO_AREA, 10**6, 0, 0, "", "")]
            positions: dict[str, int] = {}
            for item in linked:
                positions.setdefault(item.area_name, item.area_position)
            for area_name, position in positions.items():
                area = areas.setdefault(area_name, AreaResults(area_name,
                                                               (position, area_name)))
                area.verdicts[verdict] += 1
                area.school_ids.add(by_ruta[ruta_id].school.id)
    lecciones.sort(key=lambda item: (item.school.sort_key, item.ruta_id))
    return FinalResults(sorted(areas.values(), key=lambda area: area.order), totals,
                        expected, registered, writing, lecciones)
