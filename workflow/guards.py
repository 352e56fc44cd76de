"""The facts behind the machine's named guards, and how a transition gets them.

The machine (``workflow.states``) only combines named booleans. Which fact stands behind each
name is the business of the stage that owns the content it judges, so each stage's
``actions`` module passes its providers to ``services.transition``:

- ``self_assessment_complete`` (``workflow.autoevaluacion.actions``): a pinned catalog, every
  componente rated, evidence where required, identity reviewed, and a first sending inside the
  autoevaluación window in force (``workflow.autoevaluacion.window``);
- ``pmi_passes_blocking_checks`` (``workflow.pmi.actions``): the Circular 0488 rule set over
  the PMI, and every observation of the last return answered;
- ``has_observations`` (``workflow.pmi.actions``): at least one itemized observation to send
  (the free text is only a note);
- ``no_open_observations`` (``workflow.pmi.actions``): every itemized observation resolved;
- ``rubric_allows_approval`` (``workflow.pmi.actions``): the revisor's rubric has no «no
  cumple» on an obligatory criterion (1–7) of Circular 0488;
- ``final_evaluation_recorded`` (``workflow.cierre.actions``): the final evaluation marked
  «registrada»;
- ``returns_to_pmi``, ``returns_to_self_assessment`` (here): where the revisor said the Ruta
  goes back.

A provider returns the reasons a guard fails, so the page can list exactly what is missing.
This module imports no stage: stages build on the core, never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.models import Ruta
from workflow.states import ReturnTarget


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


def failed_unless_empty(reasons: list[str] | tuple[str, ...]) -> GuardResult:
    """Passed when there is nothing to report; failed with ``reasons`` otherwise."""
    return GuardResult(False, tuple(reasons)) if reasons else PASSED


def lock_ruta(session: Session, ruta: Ruta) -> None:
    """Lock the Ruta's row so no edit lands between a guard's check and the state change
    (PostgreSQL; SQLite serialises writers anyway)."""
    session.execute(select(Ruta.id).where(Ruta.id == ruta.id).with_for_update())


def _returns_to(target: ReturnTarget) -> GuardProvider:
    def provider(session: Session, ruta: Ruta, given: TransitionInput) -> GuardResult:
        if given.return_target is target:
            return PASSED
        if given.return_target is None:
            return GuardResult(False, ("Indique a qué etapa vuelve la Ruta: al PMI o a la "
                                       "autoevaluación.",))
        return GuardResult(False)
    return provider


#: The guards that depend only on what the person said, not on a stage's content.
CORE_PROVIDERS: Mapping[str, GuardProvider] = {
    "returns_to_pmi": _returns_to(ReturnTarget.PMI),
    "returns_to_self_assessment": _returns_to(ReturnTarget.AUTOEVALUACION),
}


def evaluate(session: Session, ruta: Ruta, names: list[str], given: TransitionInput,
             providers: Mapping[str, GuardProvider]) -> Mapping[str, GuardResult]:
    """Compute each named guard with the stage's ``providers`` (or the core's)."""
    every = {**CORE_PROVIDERS, **providers}
    missing = [name for name in names if name not in every]
    if missing:
        # A programming error: the action that fires this trigger forgot a provider.
        raise LookupError(f"no provider for the guard(s) {', '.join(missing)}")
    return {name: every[name](session, ruta, given) for name in names}
