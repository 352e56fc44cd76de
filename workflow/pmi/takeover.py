"""Whoever takes a Ruta's review holds it (issue 14, item 2).

The revisor who took the PMI (``Ruta.reviewer_id``, set by ``tomar_revision``) is the only one
who approves or returns it. The same revisor holds the Ruta's follow-up reports too: reports
have no taker of their own, so acknowledging or returning one is the Ruta's reviewer's (a
Ruta without a reviewer yet lets any revisor act, as before). Another revisor takes the Ruta
over explicitly, with a reason (``take_over``): the Ruta's reviewer changes, a
``RutaTakeover`` row (``workflow.models``) is logged (the Ruta's history shows it beside the
transitions) and the first revisor is told by e-mail (``revision_tomada``).

Why a table of its own: a take-over is not a state change, and ``ruta_transitions`` only
accepts the machine's triggers (CHECK ``known_trigger``); logging it as a fake transition
would lie about the state. The administración does not reassign: it has no review role,
and a revisor who needs the Ruta takes it over with a reason (which is what is audited).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from workflow import outbox
from workflow.errors import Forbidden, GuardFailed, InvalidInput, StaleRuta
from workflow.guards import lock_ruta
from workflow.models import Ruta, RutaTakeover, User, utcnow
from workflow.notifications import ruta_url
from workflow.roles import Role
from workflow.ruta_rows import rows_of

MIN_REASON_WORDS = 3
MAX_REASON = 2000
HELD_MESSAGE = "Otro revisor o revisora tiene esta revisión."
REASON_MISSING = (f"Escriba por qué toma la revisión (al menos {MIN_REASON_WORDS} palabras): "
                  "queda en la historia de la Ruta y se envía a quien la tenía.")


def holder(ruta: Ruta) -> User | None:
    return ruta.reviewer


def holder_refusal(ruta: Ruta, actor: User) -> str | None:
    """Why ``actor`` may not decide on the Ruta's review now (another revisor holds it)."""
    if ruta.reviewer_id is None or ruta.reviewer_id == actor.id:
        return None
    name = ruta.reviewer.name if ruta.reviewer is not None else "otro revisor"
    return (f"La revisión de esta Ruta está en manos de {name}: solo quien la tomó la aprueba, "
            f"la devuelve o revisa sus informes. Si debe hacerlo usted, use «Tomar de {name}» "
            "e indique por qué.")


def require_holder(ruta: Ruta, actor: User) -> None:
    """Refuse (``GuardFailed``: the views re-show the form with what was typed) unless
    ``actor`` holds the Ruta's review or nobody does."""
    refusal = holder_refusal(ruta, actor)
    if refusal is not None:
        raise GuardFailed(HELD_MESSAGE, [refusal])


def since(session: Session, ruta: Ruta,
          takeovers: list[RutaTakeover] | None = None) -> datetime | None:
    """When the current reviewer got the Ruta: their latest take-over, else the taking.
    ``takeovers``: the Ruta's ``history``, when the page has it already."""
    if takeovers is None:
        takeovers = history(session, ruta)
    latest = next((row.at for row in takeovers if row.to_user_id == ruta.reviewer_id), None)
    if latest is not None:
        return latest
    taken = [row.at for row in ruta.transitions if row.trigger == "tomar_revision"]
    return taken[-1] if taken else None


def history(session: Session, ruta: Ruta) -> list[RutaTakeover]:
    return sorted(rows_of(session, RutaTakeover, ruta.id), key=lambda row: -row.id)


def may_take_over(actor: User, ruta: Ruta) -> bool:
    return (actor.active and actor.role is Role.REVISOR and ruta.reviewer_id is not None
            and ruta.reviewer_id != actor.id)


def reason_problem(reason: str) -> str | None:
    return REASON_MISSING if len(reason.split()) < MIN_REASON_WORDS else None


def take_over(session: Session, ruta: Ruta, *, reviewer: User, expected_version: int,
              reason: str, now: datetime | None = None) -> RutaTakeover | None:
    """Make ``reviewer`` the Ruta's reviewer in place of the current one.

    Returns the logged row, or None when ``reviewer`` already holds it (a second post of the
    same form changes nothing). A reason of fewer than three words raises ``InvalidInput``
    and a Ruta changed since the form was drawn ``StaleRuta``, before anything is written.

    Changes: ``Ruta.reviewer_id`` (and its version); appends a ``RutaTakeover``; queues the
    e-mail ``revision_tomada`` to the first revisor (if active). Never commits.
    """
    cleaned = reason.strip()[:MAX_REASON]
    problem = reason_problem(cleaned)
    if problem is not None:
        raise InvalidInput({"motivo": [problem]})
    if not (reviewer.active and reviewer.role is Role.REVISOR):
        raise Forbidden("Solo un revisor o revisora de la Secretaría puede tomar una revisión.")
    lock_ruta(session, ruta)
    session.refresh(ruta)
    if ruta.reviewer_id == reviewer.id:
        return None
    if ruta.version != expected_version:
        raise StaleRuta(ruta.id)
    previous = ruta.reviewer
    if previous is None:
        raise Forbidden("Nadie ha tomado esta Ruta para revisión: no hay a quién tomársela.")
    moment = now or utcnow()
    ruta.reviewer_id = reviewer.id
    row = RutaTakeover(ruta_id=ruta.id, from_user_id=previous.id, to_user_id=reviewer.id,
                       ruta_version=expected_version, reason=cleaned, at=moment)
    session.add(row)
    session.flush()  # bumps the Ruta's version: a concurrent take-over of it is stale
    if previous.active:
        school = ruta.school
        outbox.enqueue(
            session, kind="revision_tomada", to=[previous.email],
            context={"school_name": school.name, "dane_code": school.dane_code,
                     "horizon": ruta.horizon_label, "ruta_url": ruta_url(session, ruta.id),
                     "secretaria_name": school.secretaria.name,
                     "previous_name": previous.name, "taker_name": reviewer.name,
                     "reason": cleaned, "at": moment},
            dedupe_key=f"takeover:{row.id}", secretaria_id=school.secretaria_id,
            ruta_id=ruta.id, now=moment)
    return row
