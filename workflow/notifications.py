"""Who hears about each transition of a Ruta, and with which message.

``transition_happened`` is called by the services right after the audit row is written, in
the same transaction: the e-mails are outbox rows that exist only if the transition commits.

| trigger | message (``templates/email/``) | to |
|---|---|---|
| enviar_autoevaluacion | autoevaluacion_enviada | the Secretaría's active revisores |
| formular_pmi | pmi_enviado | the Secretaría's active revisores |
| tomar_revision | pmi_en_revision | the rector |
| devolver | ruta_devuelta (with the observations) | the rector; the team in copy |
| aprobar | pmi_aprobado | the rector; the team in copy |
| iniciar_seguimiento | seguimiento_iniciado | the rector |
| cerrar | ruta_cerrada | the rector |

Only active accounts receive mail. With nobody to tell (a school without an active rector
or team), nothing is queued.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow import outbox
from workflow.models import Ruta, RutaTransition, User
from workflow.roles import Role
from workflow.states import ReturnTarget, Trigger


class Audience(StrEnum):
    REVISORES = "revisores"
    RECTOR = "rector"
    RECTOR_Y_EQUIPO = "rector_y_equipo"


MESSAGES: Final[Mapping[Trigger, tuple[tuple[Audience, str], ...]]] = {
    Trigger.ENVIAR_AUTOEVALUACION: ((Audience.REVISORES, "autoevaluacion_enviada"),),
    Trigger.FORMULAR_PMI: ((Audience.REVISORES, "pmi_enviado"),),
    Trigger.TOMAR_REVISION: ((Audience.RECTOR, "pmi_en_revision"),),
    Trigger.DEVOLVER: ((Audience.RECTOR_Y_EQUIPO, "ruta_devuelta"),),
    Trigger.APROBAR: ((Audience.RECTOR_Y_EQUIPO, "pmi_aprobado"),),
    Trigger.INICIAR_SEGUIMIENTO: ((Audience.RECTOR, "seguimiento_iniciado"),),
    Trigger.CERRAR: ((Audience.RECTOR, "ruta_cerrada"),),
}
assert set(MESSAGES) == set(Trigger), "every trigger says who hears about it"

RETURN_TARGET_WORDS: Final[Mapping[str, str]] = {
    ReturnTarget.PMI.value: "a la formulación del PMI (la autoevaluación queda como está)",
    ReturnTarget.AUTOEVALUACION.value: "a la autoevaluación institucional (se rehace desde "
                                       "el principio)",
}


def _emails(session: Session, *conditions: Any) -> list[str]:
    return list(session.scalars(
        select(User.email).where(User.active.is_(True), *conditions).order_by(User.email)))


def reviewers(session: Session, secretaria_id: int) -> list[str]:
    return _emails(session, User.role == Role.REVISOR, User.secretaria_id == secretaria_id)


def rector(session: Session, school_id: int) -> list[str]:
    return _emails(session, User.role == Role.RECTOR, User.school_id == school_id)


def team(session: Session, school_id: int) -> list[str]:
    return _emails(session, User.role == Role.EQUIPO, User.school_id == school_id)


def _addressees(session: Session, audience: Audience,
                ruta: Ruta) -> tuple[list[str], list[str]]:
    """(to, cc) for ``audience``."""
    school = ruta.school
    if audience is Audience.REVISORES:
        return reviewers(session, school.secretaria_id), []
    if audience is Audience.RECTOR:
        return rector(session, school.id), []
    to, cc = rector(session, school.id), team(session, school.id)
    # Without an active rector the team still needs to know.
    return (to, cc) if to else (cc, [])


def ruta_url(session: Session, ruta_id: int) -> str:
    """The Ruta's page, where every reader of these messages acts."""
    return outbox.absolute_url(session, f"/rutas/{ruta_id}")


def transition_context(session: Session, entry: RutaTransition) -> dict[str, Any]:
    ruta = entry.ruta
    school = ruta.school
    actor = session.get(User, entry.actor_id) if entry.actor_id is not None else None
    reviewer = session.get(User, ruta.reviewer_id) if ruta.reviewer_id is not None else None
    target = (entry.extra or {}).get("return_target")
    return {
        "school_name": school.name,
        "dane_code": school.dane_code,
        "secretaria_name": school.secretaria.name,
        "horizon": ruta.horizon_label,
        "ruta_url": ruta_url(session, ruta.id),
        "actor_name": actor.name if actor is not None else None,
        "reviewer_name": reviewer.name if reviewer is not None else None,
        "at": entry.at,
        "state_label": entry.to_state.label,
        "observations": entry.observations,
        "return_target": RETURN_TARGET_WORDS.get(target) if target else None,
    }


def transition_happened(session: Session, entry: RutaTransition) -> int:
    """Queue the e-mails ``entry`` causes. Returns how many were queued.

    Changes: outbox rows (dedupe key ``transition:<entry id>:<audience>``), in the caller's
    transaction. Never commits.
    """
    trigger = Trigger(entry.trigger)
    ruta = entry.ruta
    context = transition_context(session, entry)
    queued = 0
    for audience, kind in MESSAGES[trigger]:
        to, cc = _addressees(session, audience, ruta)
        if not to:
            continue
        queued += outbox.enqueue(
            session, kind=kind, to=to, cc=cc, context=context,
            dedupe_key=f"transition:{entry.id}:{audience.value}",
            secretaria_id=ruta.school.secretaria_id, ruta_id=ruta.id, now=entry.at,
        )
    return queued
