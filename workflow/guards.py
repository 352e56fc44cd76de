"""The facts behind the machine's named guards, computed from a Ruta's content.

The machine (``workflow.states``) only combines named booleans; this module computes them,
with the reasons a guard fails so the page can list exactly what is missing. Each provider
is replaced by the issue that builds the content it judges:

- ``self_assessment_complete``: the autoevaluación (``workflow.autoevaluacion``): a pinned
  catalog, every componente rated, evidence where required, identity reviewed.
- ``pmi_passes_blocking_checks``: the Circular 0488 rule set over the PMI. No PMI content yet.
- ``no_open_observations``: itemized review observations. Observations are free text on the
  return today, so none can be left open.
- ``final_evaluation_recorded``: the seguimiento issue's final evaluation. Not built yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from workflow import autoevaluacion
from workflow.models import Ruta
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


def _nothing_built_yet(session: Session, ruta: Ruta, given: TransitionInput) -> GuardResult:
    return PASSED


def _self_assessment_complete(session: Session, ruta: Ruta,
                              given: TransitionInput) -> GuardResult:
    # Locked first, so no save lands between this check and the state change.
    autoevaluacion.lock_for_submission(session, ruta)
    missing = autoevaluacion.missing_items(session, ruta)
    return GuardResult(False, tuple(item.message for item in missing)) if missing else PASSED


def _has_observations(session: Session, ruta: Ruta, given: TransitionInput) -> GuardResult:
    if given.observations.strip():
        return PASSED
    return GuardResult(False, ("Escriba las observaciones para la institución: una devolución "
                               "sin observaciones no le dice qué corregir.",))


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
    "pmi_passes_blocking_checks": _nothing_built_yet,
    "has_observations": _has_observations,
    "no_open_observations": _nothing_built_yet,
    "final_evaluation_recorded": _nothing_built_yet,
    "returns_to_pmi": _returns_to(ReturnTarget.PMI),
    "returns_to_self_assessment": _returns_to(ReturnTarget.AUTOEVALUACION),
}
assert set(GUARD_PROVIDERS) == set(GUARDS), "every named guard needs a provider"


def evaluate(session: Session, ruta: Ruta, names: list[str],
             given: TransitionInput) -> Mapping[str, GuardResult]:
    return {name: GUARD_PROVIDERS[name](session, ruta, given) for name in names}
