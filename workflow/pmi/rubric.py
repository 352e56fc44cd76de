"""The reviewer's rubric: a verdict per criterion of Circular 0488 with every decision.

The automatic checks (``checks``) say whether a plan is complete and consistent; whether it
complies with each criterion is the revisor's judgement. Returning or approving a PMI
(``actions``) records, for each of the eight criteria and divulgación (Guía 34), «cumple»,
«cumple parcialmente» or «no cumple», with a note unless «cumple». The rows are written in the
transaction of the transition and name the snapshot judged; the round is its number, so each
submission keeps its own rubric.

Criteria 1–7 are obligatory: approval with a «no cumple» on one of them is refused (the
``rubric_allows_approval`` guard). Criterion 8 is a recommendation of the circular and
divulgación a Guía 34 step: judged and shown, never blocking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflow.errors import InvalidInput
from workflow.models import Ruta, RutaTransition, User
from workflow.pmi.criteria_names import (
    CRITERIA,
    CRITERION_LABELS,
    GUIA_34,
    criterion_name,
)
from workflow.pmi.models import (
    Decision,
    PmiSnapshot,
    RubricVerdict,
    Verdict,
)
from workflow.ruta_rows import rows_of

# The order of the form, the pages and the exports: the circular's eight, then divulgación.
ORDER: tuple[int, ...] = (*sorted(CRITERIA), GUIA_34)
# The criteria the circular requires; a «no cumple» on one of them refuses approval.
OBLIGATORY = frozenset(range(1, 8))
MAX_NOTE = 3000

#: What the revisor posted: criterion → (verdict value, note).
RawRubric = Mapping[int, tuple[str, str]]


def field_name(criterion: int, part: str) -> str:
    """The form field of a criterion's verdict (``part="veredicto"``) or note (``"nota"``)."""
    return f"rubrica-{criterion}-{part}"


def short_label(criterion: int) -> str:
    return criterion_name(criterion)


def from_form(form: Mapping[str, Any]) -> dict[int, tuple[str, str]]:
    """The rubric as posted (missing fields are empty strings)."""
    return {criterion: (str(form.get(field_name(criterion, "veredicto"), "") or ""),
                        str(form.get(field_name(criterion, "nota"), "") or "")[:MAX_NOTE + 1])
            for criterion in ORDER}


@dataclass(frozen=True)
class Judged:
    criterion: int
    verdict: Verdict
    note: str


def validate(raw: RawRubric) -> list[Judged]:
    """The rubric checked field by field; ``InvalidInput`` with a message per field."""
    errors: dict[str, list[str]] = {}
    judged: list[Judged] = []
    for criterion in ORDER:
        value, note = raw.get(criterion, ("", ""))
        note = (note or "").strip()
        subject, of_subject = (("la divulgación (Guía 34)", "de la divulgación (Guía 34)")
                               if criterion == GUIA_34 else
                               (f"el criterio {criterion}", f"del criterio {criterion}"))
        verdict = next((item for item in Verdict if item.value == value), None)
        if verdict is None:
            errors[field_name(criterion, "veredicto")] = [
                f"Valore {subject}: «cumple», «cumple parcialmente» o «no cumple»."]
            continue
        if verdict is not Verdict.CUMPLE and not note:
            errors[field_name(criterion, "nota")] = [
                f"Escriba la nota {of_subject}: qué le falta al plan para cumplir "
                f"(la valoró «{verdict.label.lower()}»)."]
            continue
        if len(note) > MAX_NOTE:
            errors[field_name(criterion, "nota")] = [
                f"La nota {of_subject} no puede pasar de {MAX_NOTE} caracteres."]
            continue
        judged.append(Judged(criterion, verdict, note))
    if errors:
        raise InvalidInput(errors)
    return judged


def approval_refusals(judged: list[Judged]) -> list[str]:
    """Why these verdicts do not allow approval (an obligatory criterion «no cumple»)."""
    return [f"No se puede aprobar con «no cumple» en el criterio {row.criterion} "
            f"({CRITERION_LABELS[row.criterion]}): es obligatorio en la Circular 0488. "
            "Devuelva el plan con observaciones, o cambie la valoración si el plan sí cumple."
            for row in judged
            if row.criterion in OBLIGATORY and row.verdict is Verdict.NO_CUMPLE]


def record(session: Session, ruta: Ruta, entry: RutaTransition, judged: list[Judged], *,
           decision: Decision, author: User, snapshot: PmiSnapshot | None) -> int:
    """Write the verdicts of a decision (the audit row ``entry``); returns the round. Flushes.

    The round is the number of the snapshot judged; plans sent before versions existed have
    none, and count their rounds instead.
    """
    if snapshot is not None:
        number = snapshot.number
    else:
        number = (session.scalar(select(func.max(RubricVerdict.round))
                                 .where(RubricVerdict.ruta_id == ruta.id)) or 0) + 1
    for row in judged:
        session.add(RubricVerdict(
            ruta_id=ruta.id, transition_id=entry.id,
            snapshot_id=snapshot.id if snapshot else None, round=number, decision=decision,
            criterion=row.criterion, verdict=row.verdict, note=row.note,
            author_id=author.id, decided_at=entry.at))
    session.flush()
    return number


# --- what the pages show ------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    """The rubric of one decision: the version judged, what was decided, by whom, when."""

    number: int
    decision: Decision
    author: User
    decided_at: datetime
    snapshot: PmiSnapshot | None
    verdicts: list[RubricVerdict]

    @property
    def label(self) -> str:
        return f"Revisión {self.number}"

    @property
    def failing(self) -> list[RubricVerdict]:
        return [row for row in self.verdicts if row.verdict is not Verdict.CUMPLE]


def rounds(session: Session, ruta: Ruta) -> list[Round]:
    """Every rubric recorded for the Ruta, oldest first."""
    position = {criterion: index for index, criterion in enumerate(ORDER)}
    grouped: dict[int, list[RubricVerdict]] = {}
    for row in sorted(rows_of(session, RubricVerdict, ruta.id),
                      key=lambda row: (row.round, row.id)):
        grouped.setdefault(row.round, []).append(row)
    found = []
    for number, rows in sorted(grouped.items()):
        rows.sort(key=lambda row: position[row.criterion])
        first = rows[0]
        found.append(Round(number, first.decision, first.author, first.decided_at,
                           first.snapshot, rows))
    return found


def approved_round(session: Session, ruta: Ruta) -> Round | None:
    """The rubric the approval recorded, if the PMI was approved with one."""
    return next((item for item in reversed(rounds(session, ruta))
                 if item.decision is Decision.APROBADO), None)


def round_of_snapshot(session: Session, ruta: Ruta,
                      snapshot: PmiSnapshot | None) -> Round | None:
    """The rubric that judged ``snapshot`` (a printed version shows its own)."""
    if snapshot is None:
        return None
    return next((item for item in rounds(session, ruta)
                 if item.snapshot is not None and item.snapshot.id == snapshot.id), None)


def posted_values(raw: RawRubric) -> dict[str, str]:
    """The rubric as the form shows it again after a refusal (what the revisor typed)."""
    values: dict[str, str] = {}
    for criterion, (value, note) in raw.items():
        values[field_name(criterion, "veredicto")] = value
        values[field_name(criterion, "nota")] = note
    return values


# What the decision form holds besides the rubric and its buttons.
DECISION_FIELDS = ("observaciones", "destino", "nueva-elemento", "nueva-criterio",
                   "nueva-texto")
TYPED_FIELDS = ("observaciones", "nueva-texto")


def decision_values(form: Mapping[str, Any], *, limit: int) -> dict[str, str]:
    """The decision form's fields as posted along with another post of the review page (an
    observation added), to show them again; empty when nothing of it was typed."""
    carried = posted_values(from_form(form))
    carried.update({name: str(form.get(name, ""))[:limit] for name in DECISION_FIELDS
                    if name in form})
    # Selects and radios always post their default (the return target, the additional
    # observation's element): only what a person types or chooses in the rubric counts.
    typed = any(value for name, value in carried.items()
                if name.startswith("rubrica-") or name in TYPED_FIELDS)
    return carried if typed else {}
