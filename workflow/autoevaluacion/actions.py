"""The Ruta transition the autoevaluación owns: sending it to the Secretaría.

``enviar_autoevaluacion`` is guarded by ``self_assessment_complete``: a pinned catalog, every
componente rated, evidence where required, identity reviewed (``missing_items``), and, for the
first sending, the autoevaluación window in force (``workflow.autoevaluacion.window``; a Ruta
the Secretaría returned may always send it again). The window's refusal is one more reason of
the same guard, so the machine's guards stay as they are and the page lists it with the rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from workflow.autoevaluacion import ratings, window
from workflow.guards import (
    GuardProvider,
    GuardResult,
    TransitionInput,
    failed_unless_empty,
    lock_ruta,
)
from workflow.models import Ruta, RutaTransition, User
from workflow.services import transition
from workflow.states import Trigger


def self_assessment_complete(session: Session, ruta: Ruta,
                             given: TransitionInput) -> GuardResult:
    # Locked first, so no save lands between this check and the state change.
    lock_ruta(session, ruta)
    return failed_unless_empty([item.message
                                for item in ratings.missing_items(session, ruta)])


def complete_within_window(now: datetime | None) -> GuardProvider:
    """``self_assessment_complete``, plus the window's refusal on ``now``'s Bogotá day."""
    def provider(session: Session, ruta: Ruta, given: TransitionInput) -> GuardResult:
        complete = self_assessment_complete(session, ruta, given)
        refusal = window.send_refusal(session, ruta, now=now)
        return failed_unless_empty([*([refusal] if refusal else []), *complete.reasons])
    return provider


def submit_self_assessment(session: Session, ruta: Ruta, *, actor: User,
                           expected_version: int, observations: str = "",
                           now: datetime | None = None) -> RutaTransition:
    """borrador → autoevaluacion_enviada. Changes: state; appends the audit row."""
    return transition(session, ruta, Trigger.ENVIAR_AUTOEVALUACION, actor=actor,
                      expected_version=expected_version,
                      given=TransitionInput(observations=observations), now=now,
                      guards_from={"self_assessment_complete": complete_within_window(now)})
