"""Sending an adjustment, and the Secretaría's decision on it.

- ``send`` (rector): borrador/devuelto → enviado, guarded by ``has_changes``; mails the
  Secretaría's revisores (``ajuste_enviado``).
- ``return_adjustment`` (revisor): enviado → devuelto, guarded by ``has_observations`` (an
  observation on at least one change, or a general one); records the rubric and the
  observations; mails the rector (``ajuste_decidido``). The plan does not change.
- ``approve`` (revisor): enviado → aprobado, guarded by ``rubric_allows_approval`` (no «no
  cumple» on an obligatory criterion, the PMI review's rule) and ``changes_apply`` (each
  change still valid against the plan as it is now: ``workflow.ajustes.apply``). Applies the
  changes to the plan, freezes the next PMI version (``workflow.pmi.versions.freeze``: the
  printable versions and diffs show it), records the rubric; mails the rector.

The rubric reuses the PMI review's pieces (``workflow.pmi.rubric``: the same criteria, form
fields, validation and approval rule); it is stored with the decision's event
(``extra["rubric"]``) rather than in ``pmi_rubric_verdicts``, whose rounds belong to the
Ruta's own review transitions. Observations are a text per change (kept on the change for the
school to correct) plus an optional general one.

None of these changes the Ruta's state: it stays in ``seguimiento``. Each appends an event to
the adjustment's history (shown in the Ruta's history). Concurrent decisions on one
adjustment: its version column lets one win; the other gets ``StaleAdjustment`` (409).
Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from workflow import outbox
from workflow.ajustes import apply
from workflow.ajustes.changes import require_editable
from workflow.ajustes.machine import (
    TRIGGER_ACTORS,
    AdjustmentState,
    AdjustmentSubject,
    AdjustmentTrigger,
    MachineError,
    fire,
    triggers_from,
)
from workflow.ajustes.models import AdjustmentEvent, PlanAdjustment
from workflow.errors import DomainError, Forbidden, GuardFailed, InvalidInput, NotEditable
from workflow.guards import lock_ruta
from workflow.models import User, utcnow
from workflow.notifications import rector, reviewers, team
from workflow.observations import MAX_TEXT
from workflow.pmi import rubric as rubrics
from workflow.states import State

MAX_NOTE = MAX_TEXT


class StaleAdjustment(DomainError):
    status = 409

    def __init__(self) -> None:
        super().__init__("Este ajuste del plan cambió mientras usted lo tenía abierto (otra "
                         "persona lo envió o lo decidió). Recargue la página para ver cómo "
                         "quedó antes de volver a intentarlo.")


def may_fire(actor: User, adjustment: PlanAdjustment, trigger: AdjustmentTrigger) -> bool:
    """Role, school and state: the same predicate decides which buttons a page shows."""
    if not actor.active or actor.role.value not in TRIGGER_ACTORS[trigger]:
        return False
    if trigger is AdjustmentTrigger.ENVIAR and actor.school_id != adjustment.ruta.school_id:
        return False
    return (adjustment.ruta.state is State.SEGUIMIENTO
            and trigger in triggers_from(adjustment.state))


def _attempt(session: Session, adjustment: PlanAdjustment, trigger: AdjustmentTrigger, *,
             actor: User, expected_version: int | None) -> None:
    if not actor.active or actor.role.value not in TRIGGER_ACTORS[trigger]:
        raise Forbidden(f"Su rol no permite «{trigger.label}».")
    lock_ruta(session, adjustment.ruta)
    # Re-read under the lock: a decision committed meanwhile is seen, not overwritten.
    session.refresh(adjustment)
    if expected_version is not None and adjustment.version != expected_version:
        raise StaleAdjustment()
    if adjustment.ruta.state is not State.SEGUIMIENTO:
        raise NotEditable("Los ajustes del plan se tramitan mientras la Ruta está en "
                          "«Seguimiento periódico».")


def _fire(session: Session, adjustment: PlanAdjustment, trigger: AdjustmentTrigger, *,
          actor: User, facts: Mapping[str, bool], reasons: list[str], note: str | None,
          extra: dict[str, Any], now: datetime | None) -> AdjustmentEvent:
    before = adjustment.state
    subject = AdjustmentSubject(state=before.value, facts=facts)
    try:
        changed = fire(subject, trigger)
    except MachineError:
        raise NotEditable(f"No se puede «{trigger.label.lower()}» cuando el ajuste está "
                          f"«{before.label}».") from None
    if not changed:
        raise GuardFailed(f"Todavía no se puede «{trigger.label.lower()}».", reasons)
    moment = now or utcnow()
    adjustment.state = AdjustmentState(subject.state)
    event = AdjustmentEvent(adjustment_id=adjustment.id, ruta_id=adjustment.ruta_id,
                            trigger=trigger.value, from_state=before, to_state=adjustment.state,
                            actor_id=actor.id, at=moment, note=note or None, extra=extra)
    session.add(event)
    try:
        session.flush()
    except StaleDataError:
        raise StaleAdjustment() from None
    return event


def _clean_note(note: str, field: str = "observaciones") -> str:
    cleaned = note.strip()
    if len(cleaned) > MAX_NOTE:
        raise InvalidInput({field: [f"El texto no puede pasar de {MAX_NOTE} caracteres."]})
    return cleaned


# --- sending ------------------------------------------------------------------------------


def send(session: Session, adjustment: PlanAdjustment, *, actor: User,
         expected_version: int | None, now: datetime | None = None) -> AdjustmentEvent:
    """borrador/devuelto → enviado, by the rector. Mails the revisores. Flushes."""
    _attempt(session, adjustment, AdjustmentTrigger.ENVIAR, actor=actor,
             expected_version=expected_version)
    if actor.school_id != adjustment.ruta.school_id:
        raise Forbidden("Solo el rector o la rectora de la institución envía el ajuste.")
    require_editable(session, adjustment, actor)
    if expected_version is not None and adjustment.version != expected_version:
        raise StaleAdjustment()
    facts = {"has_changes": bool(adjustment.changes)}
    reasons = [] if adjustment.changes else [
        "Agregue al menos un cambio (una meta, un indicador o una actividad, con su "
        "justificación) antes de enviar el ajuste."]
    moment = now or utcnow()
    resent = adjustment.sent_at is not None
    adjustment.sent_at = moment
    event = _fire(session, adjustment, AdjustmentTrigger.ENVIAR, actor=actor, facts=facts,
                  reasons=reasons, note=None, extra={"resent": resent}, now=moment)
    _mail(session, adjustment, event, "ajuste_enviado",
          reviewers(session, adjustment.ruta.school.secretaria_id), [], resent=resent)
    return event


# --- deciding -----------------------------------------------------------------------------


def _rubric_extra(judged: list[rubrics.Judged]) -> list[dict[str, Any]]:
    return [{"criterion": row.criterion, "verdict": row.verdict.value, "note": row.note}
            for row in judged]


def return_adjustment(session: Session, adjustment: PlanAdjustment, *, reviewer: User,
                      expected_version: int | None, rubric: rubrics.RawRubric,
                      observations: Mapping[int, str], note: str = "",
                      now: datetime | None = None) -> AdjustmentEvent:
    """enviado → devuelto, with at least one observation. ``observations`` maps a change's
    id to the revisor's text on it. Validates the rubric and the texts before writing.
    Flushes."""
    _attempt(session, adjustment, AdjustmentTrigger.DEVOLVER, actor=reviewer,
             expected_version=expected_version)
    judged = rubrics.validate(rubric)
    cleaned_note = _clean_note(note)
    texts = {change.id: _clean_note(observations.get(change.id, ""),
                                    f"observacion-{change.id}")
             for change in adjustment.changes}
    written = [(change, texts[change.id]) for change in adjustment.changes if texts[change.id]]
    facts = {"has_observations": bool(written or cleaned_note)}
    summary = "\n".join(f"{change.kind.label} {change.element_label}: {text}"
                        for change, text in written)
    full = "\n\n".join(part for part in (cleaned_note, summary) if part)
    moment = now or utcnow()
    for change in adjustment.changes:
        change.observation = texts[change.id]
    adjustment.decided_by_id, adjustment.decided_at = reviewer.id, moment
    adjustment.decision_note = cleaned_note
    event = _fire(session, adjustment, AdjustmentTrigger.DEVOLVER, actor=reviewer,
                  facts=facts, reasons=["Escriba al menos una observación (sobre un cambio o "
                                        "general) antes de devolver el ajuste."],
                  note=full, extra={"rubric": _rubric_extra(judged)}, now=moment)
    to, cc = _school(session, adjustment)
    _mail(session, adjustment, event, "ajuste_decidido", to, cc, approved=False,
          observations=[{"element": change.element_label, "text": text}
                        for change, text in written], note=cleaned_note)
    return event


def approve(session: Session, adjustment: PlanAdjustment, *, reviewer: User,
            expected_version: int | None, rubric: rubrics.RawRubric, note: str = "",
            now: datetime | None = None) -> AdjustmentEvent:
    """enviado → aprobado: applies the changes to the plan and freezes the next PMI version
    (``adjustment.snapshot``). The Ruta stays in seguimiento. Flushes."""
    _attempt(session, adjustment, AdjustmentTrigger.APROBAR, actor=reviewer,
             expected_version=expected_version)
    judged = rubrics.validate(rubric)
    cleaned_note = _clean_note(note)
    refusals = rubrics.approval_refusals(judged)
    problems = apply.problems(session, adjustment)
    facts = {"rubric_allows_approval": not refusals, "changes_apply": not problems}
    moment = now or utcnow()
    adjustment.decided_by_id, adjustment.decided_at = reviewer.id, moment
    adjustment.decision_note = cleaned_note
    for change in adjustment.changes:
        change.observation = ""
    try:
        snapshot = apply.apply_changes(session, adjustment, actor=reviewer, now=moment) \
            if not (refusals or problems) else None
    except StaleDataError:
        raise StaleAdjustment() from None
    adjustment.snapshot_id = snapshot.id if snapshot is not None else None
    event = _fire(session, adjustment, AdjustmentTrigger.APROBAR, actor=reviewer, facts=facts,
                  reasons=[*refusals, *problems], note=cleaned_note,
                  extra={"rubric": _rubric_extra(judged),
                         "snapshot_id": snapshot.id if snapshot else None,
                         "snapshot_number": snapshot.number if snapshot else None},
                  now=moment)
    to, cc = _school(session, adjustment)
    _mail(session, adjustment, event, "ajuste_decidido", to, cc, approved=True,
          observations=[], note=cleaned_note,
          version_label=snapshot.label if snapshot else "")
    return event


# --- mail ---------------------------------------------------------------------------------


def _school(session: Session, adjustment: PlanAdjustment) -> tuple[list[str], list[str]]:
    school_id = adjustment.ruta.school_id
    to, cc = rector(session, school_id), team(session, school_id)
    return (to, cc) if to else (cc, [])


def _mail(session: Session, adjustment: PlanAdjustment, event: AdjustmentEvent, kind: str,
          to: list[str], cc: list[str], **extra: Any) -> None:
    if not to:
        return
    ruta = adjustment.ruta
    actor = session.get(User, event.actor_id)
    context = {
        "school_name": ruta.school.name, "dane_code": ruta.school.dane_code,
        "secretaria_name": ruta.school.secretaria.name, "horizon": ruta.horizon_label,
        "adjustment_label": adjustment.label, "changes": len(adjustment.changes),
        "adjustment_url": outbox.absolute_url(
            session, f"/rutas/{ruta.id}/ajustes/{adjustment.number}"),
        "actor_name": actor.name if actor else None, "at": event.at, **extra,
    }
    outbox.enqueue(session, kind=kind, to=to, cc=cc, context=context,
                   dedupe_key=f"ajuste:{adjustment.id}:event:{event.id}",
                   secretaria_id=ruta.school.secretaria_id, ruta_id=ruta.id, now=event.at)
