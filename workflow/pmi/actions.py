"""The Ruta transitions the PMI owns: sending it, and the Secretaría's review of it.

- ``submit_pmi`` fires ``formular_pmi``, guarded by ``pmi_passes_blocking_checks``: the
  Circular 0488 blocking rules (``checks``) and every observation of the last return answered;
- ``take_for_review`` fires ``tomar_revision``;
- ``approve`` fires ``aprobar``, guarded by ``no_open_observations`` (every itemized
  observation resolved) and ``rubric_allows_approval`` (no «no cumple» on an obligatory
  criterion of the revisor's rubric, ``rubric``);
- ``return_with_observations`` fires ``devolver``, guarded by ``has_observations`` (at least
  one itemized observation to send, ``review``) and the core's ``returns_to_*``.

Sending freezes a version of the plan (``versions``); every review step records the version it
judged (``extra["snapshot_id"]``). A return or an approval carries the revisor's rubric: it is
validated before anything is written and stored in the same transaction as the transition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from workflow.guards import (
    PASSED,
    GuardProvider,
    GuardResult,
    TransitionInput,
    failed_unless_empty,
    lock_ruta,
)
from workflow.models import Ruta, RutaTransition, User
from workflow.pmi import checks, review, takeover, versions
from workflow.pmi import rubric as rubrics
from workflow.pmi.models import Decision
from workflow.services import check_attempt, transition
from workflow.states import ReturnTarget, Trigger

# --- guard providers ----------------------------------------------------------------------


def pmi_passes_blocking_checks(session: Session, ruta: Ruta,
                               given: TransitionInput) -> GuardResult:
    # Locked first, so no edit lands between this check and the state change.
    lock_ruta(session, ruta)
    reasons = [finding.message for finding in checks.check_ruta(session, ruta)
               .blocking_failures]
    numbers = review.numbered(session, ruta)
    reasons += [f"Responda la observación {numbers[row.id]} de la Secretaría "
                f"({row.element_label}) antes de volver a enviar el PMI."
                for row in review.unanswered(session, ruta)]
    return failed_unless_empty(reasons)


def no_open_observations(session: Session, ruta: Ruta, given: TransitionInput) -> GuardResult:
    # Locked first: an observation being added waits for the decision, or the decision for it.
    lock_ruta(session, ruta)
    numbers = review.numbered(session, ruta)
    return failed_unless_empty([
        f"La observación {numbers[row.id]} ({row.element_label}) sigue sin resolver: "
        f"{row.status.label.lower()}."
        for row in review.open_observations(session, ruta)])


def has_observations(session: Session, ruta: Ruta, given: TransitionInput) -> GuardResult:
    # Itemized only: the free-text comment is a covering note, not something to answer.
    lock_ruta(session, ruta)
    if review.for_return(session, ruta):
        return PASSED
    return GuardResult(False, (review.NO_OBSERVATIONS_REASON,))


def rubric_allows_approval(judged: list[rubrics.Judged]) -> GuardProvider:
    """The provider of ``rubric_allows_approval`` for the rubric posted with this approval."""
    def provider(session: Session, ruta: Ruta, given: TransitionInput) -> GuardResult:
        return failed_unless_empty(rubrics.approval_refusals(judged))
    provider.__name__ = "rubric_allows_approval"
    return provider


# --- one function per action --------------------------------------------------------------


def submit_pmi(session: Session, ruta: Ruta, *, actor: User, expected_version: int,
               observations: str = "", now: datetime | None = None) -> RutaTransition:
    """autoevaluacion_enviada → pmi_formulado (sent to the Secretaría).

    Changes: state; appends the audit row; freezes the next snapshot of the PMI
    (``versions``), the version the Secretaría reviews.
    """
    entry = transition(session, ruta, Trigger.FORMULAR_PMI, actor=actor,
                       expected_version=expected_version,
                       given=TransitionInput(observations=observations), now=now,
                       guards_from={"pmi_passes_blocking_checks": pmi_passes_blocking_checks})
    versions.freeze(session, ruta, actor=actor, now=entry.at)
    return entry


def _judged(session: Session, ruta: Ruta) -> dict[str, Any]:
    """The ``extra`` of a review's row: the snapshot (version of the PMI) it judged."""
    snapshot = versions.latest(session, ruta)
    return {} if snapshot is None else {"snapshot_id": snapshot.id}


def take_for_review(session: Session, ruta: Ruta, *, reviewer: User, expected_version: int,
                    observations: str = "", now: datetime | None = None) -> RutaTransition:
    """pmi_formulado → en_revision. Changes: state, ``reviewer``; appends the audit row with
    the snapshot taken (``extra["snapshot_id"]``)."""
    return transition(session, ruta, Trigger.TOMAR_REVISION, actor=reviewer,
                      expected_version=expected_version,
                      given=TransitionInput(observations=observations), now=now,
                      extra=_judged(session, ruta), columns={"reviewer_id": reviewer.id})


def approve(session: Session, ruta: Ruta, *, reviewer: User, expected_version: int,
            rubric: rubrics.RawRubric, observations: str = "",
            now: datetime | None = None) -> RutaTransition:
    """en_revision → aprobado. Changes: state; appends the audit row (optional comments) with
    the snapshot approved (``extra["snapshot_id"]``); stores the rubric (``rubric``).

    An incomplete rubric raises ``InvalidInput`` (a message per field) before anything is
    written; a «no cumple» on an obligatory criterion fails the guard."""
    check_attempt(session, ruta, Trigger.APROBAR, actor=reviewer,
                  expected_version=expected_version)
    takeover.require_holder(ruta, reviewer)  # only whoever took it decides
    judged = rubrics.validate(rubric)
    snapshot = versions.latest(session, ruta)
    entry = transition(session, ruta, Trigger.APROBAR, actor=reviewer,
                       expected_version=expected_version,
                       given=TransitionInput(observations=observations), now=now,
                       extra=_judged(session, ruta),
                       guards_from={"no_open_observations": no_open_observations,
                                    "rubric_allows_approval": rubric_allows_approval(judged)})
    rubrics.record(session, ruta, entry, judged, decision=Decision.APROBADO, author=reviewer,
                  snapshot=snapshot)
    return entry


def return_with_observations(session: Session, ruta: Ruta, *, reviewer: User,
                             expected_version: int, observations: str,
                             target: ReturnTarget | None, rubric: rubrics.RawRubric,
                             now: datetime | None = None) -> RutaTransition:
    """en_revision → autoevaluacion_enviada (target PMI) or borrador (target autoevaluación).

    Requires at least one itemized observation (``review``): written during this review, or
    left open by the revisor; ``observations`` is only an optional covering note.

    Changes: state; appends the audit row with the observations, the target and the snapshot
    judged (``extra``); sends the itemized observations; stores the rubric (``rubric``; an
    incomplete one raises ``InvalidInput`` before anything is written). The row's
    observations are the covering note followed by a readable list of the new itemized ones
    and of those the revisor left open, so the history and the e-mail carry them.
    """
    check_attempt(session, ruta, Trigger.DEVOLVER, actor=reviewer,
                  expected_version=expected_version)
    takeover.require_holder(ruta, reviewer)  # only whoever took it decides
    judged = rubrics.validate(rubric)
    snapshot = versions.latest(session, ruta)
    itemized = review.for_return(session, ruta)
    summary = review.summary_text(itemized, review.numbered(session, ruta))
    text = "\n\n".join(part for part in (observations.strip(), summary) if part)
    extra = _judged(session, ruta)
    if target is not None:
        extra["return_target"] = target.value
    entry = transition(
        session, ruta, Trigger.DEVOLVER, actor=reviewer, expected_version=expected_version,
        given=TransitionInput(observations=text, return_target=target), extra=extra, now=now,
        guards_from={"has_observations": has_observations},
    )
    review.send_drafts(session, ruta, now=entry.at)
    rubrics.record(session, ruta, entry, judged, decision=Decision.DEVUELTO, author=reviewer,
                  snapshot=snapshot)
    return entry
