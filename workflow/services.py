"""One service function per user action on a Ruta.

Every service: checks that the actor sees the Ruta (404) and may fire the trigger (403),
checks the version the actor loaded (409 when someone else moved the Ruta), computes the
guards and fires the trigger (409 from a wrong state, 422 when a guard fails), sets the
columns of the new state, appends the audit row, and flushes. None of them commits: the view
commits once, so the state change and its audit row land together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from workflow import guards, notifications
from workflow.catalogo.catalog import current_catalog_id
from workflow.errors import Forbidden, GuardFailed, InvalidTransition, NotFound, StaleRuta
from workflow.guards import TransitionInput
from workflow.models import OPENED, Ruta, RutaTransition, School, User, utcnow
from workflow.pmi import review
from workflow.pmi import versions as pmi_versions
from workflow.roles import Role
from workflow.scoping import scoped
from workflow.states import (
    SYSTEM,
    TRANSITIONS,
    TRIGGER_ACTORS,
    MachineError,
    ReturnTarget,
    RutaSubject,
    State,
    Trigger,
    fire,
    triggers_from,
)

# --- permission predicates (the same ones decide which buttons a page shows) -------------


def actor_kind(actor: User | None) -> str:
    return SYSTEM if actor is None else actor.role.value


def may_fire(actor: User | None, trigger: Trigger) -> bool:
    """Whether the actor's role may fire ``trigger`` at all (the table in ``states``)."""
    if actor is not None and not actor.active:
        return False
    return actor_kind(actor) in TRIGGER_ACTORS[trigger]


def available_actions(actor: User, ruta: Ruta) -> list[Trigger]:
    """The actions to offer ``actor`` now: allowed by the machine from this state and by role."""
    return [trigger for trigger in triggers_from(ruta.state) if may_fire(actor, trigger)]


def _guard_names(trigger: Trigger, state: State) -> list[str]:
    names: list[str] = []
    for row in TRANSITIONS:
        if row["trigger"] == trigger and row["source"] == state:
            for name in row.get("conditions", []):  # type: ignore[attr-defined]
                if name not in names:
                    names.append(name)
    return names


def _in_scope(session: Session, actor: User, ruta: Ruta) -> bool:
    return session.scalar(scoped(actor, Ruta).where(Ruta.id == ruta.id)) is not None


def _transition(session: Session, ruta: Ruta, trigger: Trigger, *, actor: User | None,
                expected_version: int, given: TransitionInput | None = None,
                extra: dict[str, Any] | None = None, now: datetime | None = None,
                columns: dict[str, Any] | None = None) -> RutaTransition:
    """Fire ``trigger`` and set ``columns`` of the new state, in one versioned UPDATE."""
    if actor is not None and not _in_scope(session, actor, ruta):
        raise NotFound("No encontramos esa Ruta de Mejoramiento.")
    if not may_fire(actor, trigger):
        raise Forbidden(f"Su rol no permite «{trigger.label}».")
    if ruta.version != expected_version:
        raise StaleRuta(ruta.id)

    given = given or TransitionInput()
    ruta_id = ruta.id  # the object is unusable after a failed flush: keep what we report
    before = ruta.state
    results = guards.evaluate(session, ruta, _guard_names(trigger, before), given)
    subject = RutaSubject(state=before.value,
                          facts={name: result.passed for name, result in results.items()})
    try:
        changed = fire(subject, trigger)
    except MachineError:
        raise InvalidTransition(
            f"No se puede «{trigger.label}» cuando la Ruta está en «{before.label}»."
        ) from None
    if not changed:
        reasons = list(dict.fromkeys(
            reason for result in results.values() for reason in result.reasons))
        raise GuardFailed(f"Todavía no se puede «{trigger.label}».", reasons)

    moment = now or utcnow()
    ruta.state = State(subject.state)
    ruta.state_changed_at = moment
    for column, value in (columns or {}).items():
        setattr(ruta, column, value)
    entry = RutaTransition(
        ruta=ruta, trigger=trigger.value, from_state=before, to_state=ruta.state,
        actor_id=None if actor is None else actor.id, at=moment,
        observations=given.observations.strip() or None, extra=extra or {},
    )
    session.add(entry)
    try:
        session.flush()
    except StaleDataError:
        # The UPDATE ... WHERE version = expected matched nothing: another transaction won.
        raise StaleRuta(ruta_id) from None
    notifications.transition_happened(session, entry)
    return entry


# --- one function per action --------------------------------------------------------------


def submit_self_assessment(session: Session, ruta: Ruta, *, actor: User,
                           expected_version: int, observations: str = "",
                           now: datetime | None = None) -> RutaTransition:
    """borrador → autoevaluacion_enviada. Changes: state; appends the audit row."""
    return _transition(session, ruta, Trigger.ENVIAR_AUTOEVALUACION, actor=actor,
                       expected_version=expected_version,
                       given=TransitionInput(observations=observations), now=now)


def submit_pmi(session: Session, ruta: Ruta, *, actor: User, expected_version: int,
               observations: str = "", now: datetime | None = None) -> RutaTransition:
    """autoevaluacion_enviada → pmi_formulado (sent to the Secretaría).

    Changes: state; appends the audit row; freezes the next snapshot of the PMI
    (``pmi_versions``), the version the Secretaría reviews.
    """
    entry = _transition(session, ruta, Trigger.FORMULAR_PMI, actor=actor,
                        expected_version=expected_version,
                        given=TransitionInput(observations=observations), now=now)
    pmi_versions.freeze(session, ruta, actor=actor, now=entry.at)
    return entry


def _judged(session: Session, ruta: Ruta) -> dict[str, Any]:
    """The ``extra`` of a review's row: the snapshot (version of the PMI) it judged."""
    snapshot = pmi_versions.latest(session, ruta)
    return {} if snapshot is None else {"snapshot_id": snapshot.id}


def take_for_review(session: Session, ruta: Ruta, *, reviewer: User, expected_version: int,
                    observations: str = "", now: datetime | None = None) -> RutaTransition:
    """pmi_formulado → en_revision. Changes: state, ``reviewer``; appends the audit row with
    the snapshot taken (``extra["snapshot_id"]``)."""
    return _transition(session, ruta, Trigger.TOMAR_REVISION, actor=reviewer,
                       expected_version=expected_version,
                       given=TransitionInput(observations=observations), now=now,
                       extra=_judged(session, ruta), columns={"reviewer_id": reviewer.id})


def approve(session: Session, ruta: Ruta, *, reviewer: User, expected_version: int,
            observations: str = "", now: datetime | None = None) -> RutaTransition:
    """en_revision → aprobado. Changes: state; appends the audit row (optional comments) with
    the snapshot approved (``extra["snapshot_id"]``)."""
    return _transition(session, ruta, Trigger.APROBAR, actor=reviewer,
                       expected_version=expected_version,
                       given=TransitionInput(observations=observations), now=now,
                       extra=_judged(session, ruta))


def return_with_observations(session: Session, ruta: Ruta, *, reviewer: User,
                             expected_version: int, observations: str,
                             target: ReturnTarget | None,
                             now: datetime | None = None) -> RutaTransition:
    """en_revision → autoevaluacion_enviada (target PMI) or borrador (target autoevaluación).

    Requires at least one itemized observation (``review``): written during this review, or
    left open by the revisor; ``observations`` is only an optional covering note.

    Changes: state; appends the audit row with the observations, the target and the snapshot
    judged (``extra``); sends the itemized observations. The row's observations are the
    covering note followed by a readable list of the new itemized ones and of those the
    revisor left open, so the history and the e-mail carry them.
    """
    itemized = review.for_return(session, ruta)
    summary = review.summary_text(itemized, review.numbered(session, ruta))
    text = "\n\n".join(part for part in (observations.strip(), summary) if part)
    extra = _judged(session, ruta)
    if target is not None:
        extra["return_target"] = target.value
    entry = _transition(
        session, ruta, Trigger.DEVOLVER, actor=reviewer, expected_version=expected_version,
        given=TransitionInput(observations=text, return_target=target), extra=extra, now=now,
    )
    review.send_drafts(session, ruta, now=entry.at)
    return entry


def start_follow_up(session: Session, ruta: Ruta, *, actor: User | None, expected_version: int,
                    observations: str = "", now: datetime | None = None) -> RutaTransition:
    """aprobado → seguimiento, by a revisor or by the system (``actor=None``) on the start date.

    Changes: state; appends the audit row (``actor_id`` NULL for the system).
    """
    return _transition(session, ruta, Trigger.INICIAR_SEGUIMIENTO, actor=actor,
                       expected_version=expected_version,
                       given=TransitionInput(observations=observations), now=now)


def close(session: Session, ruta: Ruta, *, reviewer: User, expected_version: int,
          observations: str = "", now: datetime | None = None) -> RutaTransition:
    """seguimiento → cerrado. Changes: state; appends the audit row."""
    return _transition(session, ruta, Trigger.CERRAR, actor=reviewer,
                       expected_version=expected_version,
                       given=TransitionInput(observations=observations), now=now)


def fire_action(session: Session, ruta: Ruta, trigger: Trigger, *, actor: User,
                expected_version: int, observations: str = "",
                target: ReturnTarget | None = None, now: datetime | None = None,
                ) -> RutaTransition:
    """Dispatch a web form's action to its service, so one view serves every button."""
    if trigger is Trigger.DEVOLVER:
        return return_with_observations(session, ruta, reviewer=actor,
                                        expected_version=expected_version,
                                        observations=observations, target=target, now=now)
    service, actor_keyword = _SERVICE_BY_TRIGGER[trigger]
    return service(session, ruta, expected_version=expected_version,  # type: ignore[operator]
                   observations=observations, now=now, **{actor_keyword: actor})


_SERVICE_BY_TRIGGER = {
    Trigger.ENVIAR_AUTOEVALUACION: (submit_self_assessment, "actor"),
    Trigger.FORMULAR_PMI: (submit_pmi, "actor"),
    Trigger.TOMAR_REVISION: (take_for_review, "reviewer"),
    Trigger.APROBAR: (approve, "reviewer"),
    Trigger.INICIAR_SEGUIMIENTO: (start_follow_up, "actor"),
    Trigger.CERRAR: (close, "reviewer"),
}


# --- opening Rutas ------------------------------------------------------------------------


def open_ruta(session: Session, school: School, *, actor: User | None,
              start_year: int | None = None, years: int | None = None,
              now: datetime | None = None) -> Ruta:
    """Open the school's Ruta for a horizon (the Secretaría's current one by default).

    Changes: a new Ruta in ``borrador``; appends its opening row to the history.
    Returns the existing Ruta when the school already has one for that horizon.
    """
    if actor is not None and actor.role is not Role.ADMINISTRADOR:
        raise Forbidden("Solo la administración de la Secretaría abre Rutas.")
    start = start_year if start_year is not None else school.secretaria.horizon_start_year
    length = years if years is not None else school.secretaria.horizon_years
    existing = session.scalar(select(Ruta).where(Ruta.school_id == school.id,
                                                 Ruta.horizon_start_year == start))
    if existing is not None:
        return existing
    moment = now or utcnow()
    ruta = Ruta(school=school, horizon_start_year=start, horizon_end_year=start + length - 1,
                state=State.BORRADOR, state_changed_at=moment, created_at=moment,
                # Pinned: a later change of the Secretaría's catalog never alters this Ruta.
                catalog_id=current_catalog_id(session, school.secretaria_id))
    session.add(ruta)
    session.add(RutaTransition(ruta=ruta, trigger=OPENED, from_state=None,
                               to_state=State.BORRADOR, at=moment,
                               actor_id=None if actor is None else actor.id))
    session.flush()
    return ruta


def open_missing_rutas(session: Session, schools: Iterable[School], *,
                       actor: User | None) -> list[Ruta]:
    """Open the current-horizon Ruta of every active school that lacks one."""
    opened = []
    for school in schools:
        if not school.active:
            continue
        start = school.secretaria.horizon_start_year
        has_one = any(ruta.horizon_start_year == start for ruta in school.rutas)
        if not has_one:
            opened.append(open_ruta(session, school, actor=actor))
    return opened
