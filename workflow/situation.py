"""Where a Ruta stands in words a person reads: its state, and whether it got there by a return.

A returned Ruta sits in an earlier state (``autoevaluacion_enviada`` or ``borrador``), but it
is not a first formulation: the school is correcting what the Secretaría sent back. The state
machine stays as it is; the Ruta page, the stepper, the queue and the home page name the
situation instead («PMI devuelto con observaciones»), read from the last logged transition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from workflow.models import Ruta, RutaTransition
from workflow.states import STATE_EXPLANATIONS, State, Trigger

RETURNED_LABELS: Final[Mapping[State, str]] = {
    State.BORRADOR: "Autoevaluación devuelta con observaciones",
    State.AUTOEVALUACION_ENVIADA: "PMI devuelto con observaciones",
}

# (for the school, for the Secretaría), as ``STATE_EXPLANATIONS``.
RETURNED_EXPLANATIONS: Final[Mapping[State, tuple[str, str]]] = {
    State.BORRADOR: (
        "La Secretaría devolvió la Ruta a la autoevaluación con observaciones. El equipo "
        "corrige la autoevaluación según las observaciones y el rector o la rectora la envía "
        "de nuevo; después se ajusta y se reenvía el PMI.",
        "La Ruta fue devuelta a la autoevaluación con observaciones. La institución la está "
        "corrigiendo; no hay nada que revisar hasta que reenvíe el PMI.",
    ),
    State.AUTOEVALUACION_ENVIADA: (
        "La Secretaría devolvió el PMI con observaciones. El equipo corrige el plan, responde "
        "cada observación y el rector o la rectora envía la nueva versión a la Secretaría.",
        "El PMI fue devuelto con observaciones. La institución lo está corrigiendo; no hay "
        "nada que revisar hasta que envíe la nueva versión.",
    ),
}


@dataclass(frozen=True)
class Situation:
    state: State
    # When the Secretaría returned the Ruta to this state; None for a first pass.
    returned_at: datetime | None = None

    @property
    def returned(self) -> bool:
        return self.returned_at is not None

    @property
    def label(self) -> str:
        return RETURNED_LABELS[self.state] if self.returned else self.state.label

    def explanation(self, perspective: int) -> str:
        """``perspective`` 0: the school's words; 1: the Secretaría's."""
        table = RETURNED_EXPLANATIONS if self.returned else STATE_EXPLANATIONS
        return table[self.state][perspective]


def situation_after(state: State, trigger: str | None, to_state: State | None,
                    at: datetime | None) -> Situation:
    """The situation of a Ruta in ``state`` whose last logged transition was ``trigger``
    into ``to_state`` at ``at`` (all None when it has none): for a list that reads them
    with its rows."""
    if (trigger == Trigger.DEVOLVER.value and to_state == state and at is not None
            and state in RETURNED_LABELS):
        return Situation(state, at)
    return Situation(state)


def _situation(state: State, last: RutaTransition | None) -> Situation:
    if last is None:
        return Situation(state)
    return situation_after(state, last.trigger, last.to_state, last.at)


def situation_of(session: Session, ruta: Ruta) -> Situation:
    if "transitions" not in inspect(ruta).unloaded:
        # The page already loaded the history (the Ruta page draws it): its last row.
        loaded = ruta.transitions
        return _situation(ruta.state, loaded[-1] if loaded else None)
    last = session.scalars(select(RutaTransition).where(RutaTransition.ruta_id == ruta.id)
                           .order_by(RutaTransition.id.desc()).limit(1)).first()
    return _situation(ruta.state, last)


def situations_of(session: Session, rutas: Iterable[Ruta]) -> dict[int, Situation]:
    """The situation of each Ruta (by id), with one query for all of them (a queue page)."""
    rutas = list(rutas)
    ids = [ruta.id for ruta in rutas]
    last_ids = (select(func.max(RutaTransition.id)).where(RutaTransition.ruta_id.in_(ids))
                .group_by(RutaTransition.ruta_id))
    last = {row.ruta_id: row for row in session.scalars(
        select(RutaTransition).where(RutaTransition.id.in_(last_ids)))} if ids else {}
    return {ruta.id: _situation(ruta.state, last.get(ruta.id)) for ruta in rutas}
