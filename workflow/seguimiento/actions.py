"""The Ruta transition that starts the seguimiento periódico of an approved plan.

Fired by the daily pass on the plan's start date (``actor=None``, the system) or by a revisor.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from workflow.guards import TransitionInput
from workflow.models import Ruta, RutaTransition, User
from workflow.services import transition
from workflow.states import Trigger


def start_follow_up(session: Session, ruta: Ruta, *, actor: User | None, expected_version: int,
                    observations: str = "", now: datetime | None = None,
                    notify: bool = True, flush: bool = True) -> RutaTransition:
    """aprobado → seguimiento, by a revisor or by the system (``actor=None``) on the start date.

    Changes: state; appends the audit row (``actor_id`` NULL for the system); queues the
    rector's e-mail, unless ``notify`` is False; flushes, unless ``flush`` is False (the
    daily pass, which holds the Rutas' locks: ``workflow.services.transition``).
    """
    return transition(session, ruta, Trigger.INICIAR_SEGUIMIENTO, actor=actor,
                      expected_version=expected_version,
                      given=TransitionInput(observations=observations), now=now,
                      notify=notify, flush=flush)
