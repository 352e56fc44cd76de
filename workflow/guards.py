"""The facts behind the machine's named guards, computed from a Ruta's content.

The machine (``workflow.states``) only combines named booleans; this module computes them,
with the reasons a guard fails so the page can list exactly what is missing. Each provider
is replaced by the issue that builds the content it judges:

- ``self_assessment_complete``: the autoevaluación (``workflow.autoevaluacion``): a pinned
  catalog, every componente rated, evidence where required, identity reviewed.
- ``pmi_passes_blocking_checks``: the Circular 0488 rule set over the PMI
  (``workflow.pmi_checks``), and every observation of the last return answered.
- ``has_observations``: at least one itemized observation (``workflow.review``) to send:
  written during this review, or left open by the revisor. The free text is only a note.
- ``no_open_observations``: every itemized observation marked resolved by the revisor.
- ``final_evaluation_recorded``: the final evaluation (``workflow.evaluacion_final``) marked
  «registrada» by the rector.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from workflow.autoevaluacion import services as autoevaluacion
from workflow.cierre import evaluacion_final
from workflow.models import Ruta
from workflow.pmi import checks as pmi_checks
from workflow.pmi import review
from workflow.states import GUARDS, ReturnTarget


@dataclass(frozen=True)
class TransitionInput:
    """What the person said with the action: observations and, on a return, where to."""

    observations: str = ""
    return_target: ReturnTarget | None = None


@dataclass(frozen=True)
class GuardResult:
    passed: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)


GuardProvider = Callable[[Session, Ruta, TransitionInput], GuardResult]

PASSED = GuardResult(True)


def _self_assessment_complete(session: Session, ruta: Ruta,
                              given: TransitionInput) -> GuardResult:
    # Locked first, so no save lands between this check and the state change.
    autoevaluacion.lock_for_submission(session, ruta)
    missing = autoevaluacion.missing_items(session, ruta)
    return GuardResult(False, tuple(item.message for item in missing)) if missing else PASSED


def _pmi_passes_blocking_checks(session: Session, ruta: Ruta,
                                given: TransitionInput) -> GuardResult:
    # Locked first, so no edit lands between this check and the state change.
    autoevaluacion.lock_for_submission(session, ruta)
    reasons = [finding.message for finding in pmi_checks.check_ruta(session, ruta)
               .blocking_failures]
    numbers = review.numbered(session, ruta)
    reasons += [f"Responda la observación {numbers[row.id]} de la Secretaría "
                f"({row.element_label}) antes de volver a enviar el PMI."
                for row in review.unanswered(session, ruta)]
    return GuardResult(False, tuple(reasons)) if reasons else PASSED


def _no_open_observations(session: Session, ruta: Ruta, given: TransitionInput) -> GuardResult:
    numbers = review.numbered(session, ruta)
    reasons = tuple(f"La observación {numbers[row.id]} ({row.element_label}) sigue sin "
                    f"resolver: {row.status.label.lower()}."
                    for row in review.open_observations(session, ruta))
    return GuardResult(False, reasons) if reasons else PASSED


def _has_observations(session: Session, ruta: Ruta, given: TransitionInput) -> GuardResult:
    # Itemized only: the free-text comment is a covering note, not something to answer.
    if review.for_return(session, ruta):
        return PASSED
    return GuardResult(False, (review.NO_OBSERVATIONS_REASON,))


def _final_evaluation_recorded(session: Session, ruta: Ruta,
                               given: TransitionInput) -> GuardResult:
    # Locked first, so the rector cannot reopen the evaluation while the Ruta closes.
    autoevaluacion.lock_for_submission(session, ruta)
    reasons = evaluacion_final.unrecorded_reasons(session, ruta)
    return GuardResult(False, tuple(reasons)) if reasons else PASSED


def _returns_to(target: ReturnTarget) -> GuardProvider:
    def provider(session: Session, ruta: Ruta, given: TransitionInput) -> GuardResult:
        if given.return_target is target:
            return PASSED
        if given.return_target is None:
            return GuardResult(False, ("Indique a qué etapa vuelve la Ruta: al PMI o a la "
                                       "autoevaluación.",))
        return GuardResult(False)
    return provider


GUARD_PROVIDERS: dict[str, GuardProvider] = {
    "self_assessment_complete": _self_assessment_complete,
    "pmi_passes_blocking_checks": _pmi_passes_blocking_checks,
    "has_observations": _has_observations,
    "no_open_observations": _no_open_observations,
    "final_evaluation_recorded": _final_evaluation_recorded,
    "returns_to_pmi": _returns_to(ReturnTarget.PMI),
    "returns_to_self_assessment": _returns_to(ReturnTarget.AUTOEVALUACION),
}
assert set(GUARD_PROVIDERS) == set(GUARDS), "every named guard needs a provider"


def evaluate(session: Session, ruta: Ruta, names: list[str],
             given: TransitionInput) -> Mapping[str, GuardResult]:
    return {name: GUARD_PROVIDERS[name](session, ruta, given) for name in names}
