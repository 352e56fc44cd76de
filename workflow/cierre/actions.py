"""The Ruta transition that closes a Ruta, guarded by its final evaluation.

``cerrar`` needs ``final_evaluation_recorded``: the rector registered the final evaluation
(``evaluacion_final``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from workflow.cierre import evaluacion_final
from workflow.guards import GuardResult, TransitionInput, failed_unless_empty, lock_ruta
from workflow.models import Ruta, RutaTransition, User
from workflow.services import transition
from workflow.states import Trigger


def final_evaluation_recorded(session: Session, ruta: Ruta,
                              given: TransitionInput) -> GuardResult:
    # Locked first, so the rector cannot reopen the evaluation while the Ruta closes.
    lock_ruta(session, ruta)
    return failed_unless_empty(evaluacion_final.unrecorded_reasons(session, ruta))


def close(session: Session, ruta: Ruta, *, reviewer: User, expected_version: int,
          observations: str = "", now: datetime | None = None) -> RutaTransition:
    """seguimiento → cerrado. Changes: state; appends the audit row."""
    return transition(session, ruta, Trigger.CERRAR, actor=reviewer,
                      expected_version=expected_version,
                      given=TransitionInput(observations=observations), now=now,
                      guards_from={"final_evaluation_recorded": final_evaluation_recorded})
