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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

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


# Who is written to, for one school or Secretaría or for many at once (``_Addresses``): the
# active accounts of the role, by e-mail.
def _reviewers_of(secretaria_ids: Iterable[int]) -> Any:
    return and_(User.role == Role.REVISOR, User.secretaria_id.in_(list(secretaria_ids)))


def _rectors_of(school_ids: Iterable[int]) -> Any:
    return and_(User.role == Role.RECTOR, User.school_id.in_(list(school_ids)))


def _teams_of(school_ids: Iterable[int]) -> Any:
    return and_(User.role == Role.EQUIPO, User.school_id.in_(list(school_ids)))


def _addressed(*columns: Any) -> Select[Any]:
    return select(*columns).where(User.active.is_(True)).order_by(User.email)


def _emails(session: Session, condition: Any) -> list[str]:
    return list(session.scalars(_addressed(User.email).where(condition)))


def reviewers(session: Session, secretaria_id: int) -> list[str]:
    return _emails(session, _reviewers_of([secretaria_id]))


def rector(session: Session, school_id: int) -> list[str]:
    return _emails(session, _rectors_of([school_id]))


def team(session: Session, school_id: int) -> list[str]:
    return _emails(session, _teams_of([school_id]))


@dataclass
class _Addresses:
    """The active accounts the messages of some transitions may go to, read in one
    statement: each school's rector and team, each Secretaría's revisores (by e-mail)."""

    rectors: dict[int, list[str]] = field(default_factory=dict)
    teams: dict[int, list[str]] = field(default_factory=dict)
    reviewers: dict[int, list[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, session: Session, audiences: set[Audience], rutas: Iterable[Ruta]
             ) -> _Addresses:
        found = cls()
        school_ids = {ruta.school_id for ruta in rutas}
        secretaria_ids = {ruta.school.secretaria_id for ruta in rutas}
        wanted = []
        if audiences & {Audience.RECTOR, Audience.RECTOR_Y_EQUIPO}:
            wanted.append(_rectors_of(school_ids))
        if Audience.RECTOR_Y_EQUIPO in audiences:
            wanted.append(_teams_of(school_ids))
        if Audience.REVISORES in audiences:
            wanted.append(_reviewers_of(secretaria_ids))
        if not wanted:
            return found
        for email, role, school_id, secretaria_id in session.execute(
                _addressed(User.email, User.role, User.school_id, User.secretaria_id)
                .where(or_(*wanted))):
            if role is Role.REVISOR:
                found.reviewers.setdefault(secretaria_id, []).append(email)
            elif role is Role.RECTOR:
                found.rectors.setdefault(school_id, []).append(email)
            else:
                found.teams.setdefault(school_id, []).append(email)
        return found

    def of(self, audience: Audience, ruta: Ruta) -> tuple[list[str], list[str]]:
        """(to, cc) for ``audience``."""
        if audience is Audience.REVISORES:
            return list(self.reviewers.get(ruta.school.secretaria_id, [])), []
        to = list(self.rectors.get(ruta.school_id, []))
        if audience is Audience.RECTOR:
            return to, []
        cc = list(self.teams.get(ruta.school_id, []))
        # Without an active rector the team still needs to know.
        return (to, cc) if to else (cc, [])


def ruta_url(session: Session, ruta_id: int) -> str:
    """The Ruta's page, where every reader of these messages acts."""
    return outbox.absolute_url(session, f"/rutas/{ruta_id}")


def _users(session: Session, ids: Iterable[int | None]) -> dict[int, User]:
    """The users of ``ids``: those the session holds already, the others in one statement."""
    wanted = {user_id for user_id in ids if user_id is not None}
    missing = [user_id for user_id in wanted
               if identity_key(User, user_id) not in session.identity_map]
    found = {user.id: user for user in (session.scalars(
        select(User).where(User.id.in_(missing))) if missing else ())}
    return found | {user_id: user for user_id in wanted if user_id not in found
                    and (user := session.get(User, user_id)) is not None}


def _context(session: Session, entry: RutaTransition, users: Mapping[int, User]
             ) -> dict[str, Any]:
    ruta = entry.ruta
    school = ruta.school
    actor = users.get(entry.actor_id) if entry.actor_id is not None else None
    reviewer = users.get(ruta.reviewer_id) if ruta.reviewer_id is not None else None
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


def transition_context(session: Session, entry: RutaTransition) -> dict[str, Any]:
    return _context(session, entry, _users(session, [entry.actor_id, entry.ruta.reviewer_id]))


def transition_happened(session: Session, entry: RutaTransition) -> int:
    """Queue the e-mails ``entry`` causes. Returns how many were queued.

    Changes: outbox rows (dedupe key ``transition:<entry id>:<audience>``), in the caller's
    transaction. Never commits.
    """
    return transitions_happened(session, [entry])


def transitions_happened(session: Session, entries: Sequence[RutaTransition]) -> int:
    """``transition_happened`` for each of ``entries`` (flushed audit rows), with the same
    messages: the people they name and the addresses they go to are read for all of them
    at once (two statements), and their outbox rows are inserted together. The daily pass
    queues a chunk of started seguimientos so; a service queues its one entry."""
    if not entries:
        return 0
    users = _users(session, [user_id for entry in entries
                             for user_id in (entry.actor_id, entry.ruta.reviewer_id)])
    addresses = _Addresses.read(
        session, {audience for entry in entries
                  for audience, _ in MESSAGES[Trigger(entry.trigger)]},
        [entry.ruta for entry in entries])
    # Each message becomes due when its transition happened (``enqueue``'s ``now``).
    emails: dict[datetime, list[outbox.Email]] = {}
    for entry in entries:
        ruta = entry.ruta
        context = _context(session, entry, users)
        for audience, kind in MESSAGES[Trigger(entry.trigger)]:
            to, cc = addresses.of(audience, ruta)
            if not to:
                continue
            emails.setdefault(entry.at, []).append(outbox.Email(
                kind=kind, to=to, cc=cc, context=context,
                dedupe_key=f"transition:{entry.id}:{audience.value}",
                secretaria_id=ruta.school.secretaria_id, ruta_id=ruta.id))
    return sum(len(outbox.enqueue_many(session, due, now=moment))
               for moment, due in emails.items())
