"""The Secretaría's review of a PMI: itemized observations, the rector's answers, verdicts.

An observation is attached to one element of the plan (or the plan as a whole), tagged with
the criterion of Circular 0488 it concerns, and refers to the snapshot the revisor read. Its
life is ``workflow.observations``' (shared with the seguimiento reports).

Only the revisor writes and judges observations (while the plan is ``en_revision``); only the
rector answers them (while the plan is back with the school). Approval is refused while any
observation is not ``resuelta``. Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow import form_tokens
from workflow import observations as life
from workflow.autoevaluacion.team import is_rector_of
from workflow.errors import Forbidden, InvalidInput, NotEditable, NotFound
from workflow.models import Ruta, User, utcnow
from workflow.observations import ObservationStatus
from workflow.pmi import versions as pmi_versions
from workflow.pmi.criteria_names import (
    CRITERION_LABELS,
)
from workflow.pmi.models import (
    Observation,
    PmiSnapshot,
)
from workflow.pmi.plan import element_labels, plan_content
from workflow.roles import Role
from workflow.ruta_rows import rows_of
from workflow.states import State

# Where the school answers: the plan is back with it, at the PMI or at the autoevaluación.
ANSWER_STATES = frozenset({State.AUTOEVALUACION_ENVIADA, State.BORRADOR})
# Why a return is refused without an itemized observation (the ``has_observations`` guard).
NO_OBSERVATIONS_REASON = (
    "Agregue al menos una observación antes de devolver: en «Revisión y observaciones» del "
    "PMI, sobre un elemento del plan o sobre «El plan en general», con el criterio de la "
    "Circular 0488 al que se refiere. El comentario general es opcional y acompaña a las "
    "observaciones.")


# --- queries ------------------------------------------------------------------------------


def observations(session: Session, ruta: Ruta) -> list[Observation]:
    return rows_of(session, Observation, ruta.id)


def drafts(session: Session, ruta: Ruta) -> list[Observation]:
    return [row for row in observations(session, ruta)
            if row.status is ObservationStatus.BORRADOR]


def for_return(session: Session, ruta: Ruta) -> list[Observation]:
    """What a return sends the school: the new drafts and those the revisor left open."""
    return [row for row in observations(session, ruta) if row.status in life.TO_SEND]


def open_observations(session: Session, ruta: Ruta) -> list[Observation]:
    return [row for row in observations(session, ruta) if row.is_open]


def unanswered(session: Session, ruta: Ruta) -> list[Observation]:
    return [row for row in observations(session, ruta) if row.status in life.UNANSWERED]


def numbered(session: Session, ruta: Ruta) -> dict[int, int]:
    """The number each observation keeps on every page and in the e-mail (1, 2, ...)."""
    return {row.id: index for index, row in enumerate(observations(session, ruta), 1)}


def summary_text(rows: Sequence[Observation], numbers: dict[int, int]) -> str:
    """The readable list the history and the e-mail carry."""
    return "\n".join(f"{numbers.get(row.id, index)}. [{row.element_label} · "
                     f"{row.criterion_name}] {row.text}" for index, row in enumerate(rows, 1))


# --- who may do what ----------------------------------------------------------------------


def may_review(actor: User, ruta: Ruta) -> bool:
    return actor.active and actor.role is Role.REVISOR and ruta.state is State.EN_REVISION


def may_answer(actor: User, ruta: Ruta) -> bool:
    return is_rector_of(actor, ruta) and ruta.state in ANSWER_STATES


def _lock(session: Session, ruta: Ruta) -> None:
    """Lock the Ruta's row and reload it, so an observation is written, judged or answered
    either before a decision (which then sees it: the decision's guards lock the same row
    first) or after it (and then sees the new state). PostgreSQL; SQLite serialises writers."""
    session.scalars(select(Ruta).where(Ruta.id == ruta.id).with_for_update()
                    .execution_options(populate_existing=True)).one()


def _require_reviewer(session: Session, actor: User, ruta: Ruta) -> None:
    if not (actor.active and actor.role is Role.REVISOR):
        raise Forbidden("Solo los revisores de la Dirección de Calidad escriben y valoran "
                        "observaciones.")
    _lock(session, ruta)
    if ruta.state is not State.EN_REVISION:
        raise NotEditable("Las observaciones se escriben y se valoran mientras el PMI está "
                          "«en revisión». Tome el plan para revisión primero.")


def _observation(session: Session, ruta: Ruta, observation_id: int | None) -> Observation:
    found = session.get(Observation, observation_id) if observation_id is not None else None
    if found is None or found.ruta_id != ruta.id:
        raise NotFound("No encontramos esa observación.")
    return found


# --- services -----------------------------------------------------------------------------


def add_observation(session: Session, ruta: Ruta, *, reviewer: User, element: str,
                    criterion: str | int, text: str,
                    now: datetime | None = None) -> Observation:
    """Write an observation (a draft until the plan is returned). Flushes."""
    _require_reviewer(session, reviewer, ruta)
    labels = element_labels(plan_content(session, ruta))
    errors: dict[str, list[str]] = {}
    if element not in labels:
        errors["elemento"] = ["Elija el elemento del plan al que se refiere la observación, o "
                              "«El plan en general»."]
    number = int(criterion) if str(criterion).isdigit() and len(str(criterion)) < 3 else None
    if number not in CRITERION_LABELS:
        errors["criterio"] = ["Elija el criterio de la Circular 0488 al que se refiere."]
    problem = life.text_problem(
        text, noun="La observación",
        empty="Escriba la observación: qué debe corregir la institución y por qué.")
    if problem:
        errors["texto"] = [problem]
    if errors:
        raise InvalidInput(errors)
    snapshot = pmi_versions.latest(session, ruta)
    row = Observation(ruta_id=ruta.id, snapshot_id=snapshot.id if snapshot else None,
                      element=element, element_label=labels[element], criterion=number,
                      text=text.strip(), status=ObservationStatus.BORRADOR, author_id=reviewer.id,
                      created_at=now or utcnow())
    session.add(row)
    session.flush()
    return row


def add_observation_once(session: Session, ruta: Ruta, *, reviewer: User, element: str,
                         criterion: str | int, text: str, token: str | None,
                         now: datetime | None = None) -> Observation | None:
    """``add_observation`` from a form with a one-time ``token``: posted again (a reload of
    the page it answered, a double click) it adds nothing and returns None. Flushes."""
    _require_reviewer(session, reviewer, ruta)
    if form_tokens.claim(session, token, user=reviewer, now=now) is not None:
        return None
    row = add_observation(session, ruta, reviewer=reviewer, element=element,
                          criterion=criterion, text=text, now=now)
    form_tokens.record(session, token, f"observacion:{row.id}")
    return row


def draft_to_delete(session: Session, ruta: Ruta, observation_id: int | None, *,
                    reviewer: User) -> Observation:
    """The observation a reviewer is about to delete (the confirmation page shows it); the
    same refusals as ``delete_draft``."""
    _require_reviewer(session, reviewer, ruta)
    row = _observation(session, ruta, observation_id)
    life.require_draft(row)
    return row


def delete_draft(session: Session, ruta: Ruta, observation_id: int | None, *,
                 reviewer: User) -> Observation:
    """Delete an observation not sent yet; returns it (its element, criterion and text let
    «Deshacer» add it again). Flushes."""
    row = draft_to_delete(session, ruta, observation_id, reviewer=reviewer)
    session.delete(row)
    session.flush()
    return row


def judge(session: Session, ruta: Ruta, observation_id: int | None, *, reviewer: User,
          resolved: bool, now: datetime | None = None) -> Observation:
    """Mark a sent observation resolved, or still open. Flushes."""
    _require_reviewer(session, reviewer, ruta)
    row = _observation(session, ruta, observation_id)
    life.judge(row, reviewer=reviewer, resolved=resolved, now=now)
    session.flush()
    return row


def answer(session: Session, ruta: Ruta, observation_id: int | None, *, actor: User,
           response: str, now: datetime | None = None) -> Observation:
    """The rector's answer to a sent observation. Flushes."""
    if not is_rector_of(actor, ruta):
        raise Forbidden("Solo el rector o la rectora responde las observaciones de la "
                        "Secretaría.")
    _lock(session, ruta)
    if ruta.state not in ANSWER_STATES:
        raise NotEditable("Las observaciones se responden cuando la Secretaría devuelve la "
                          "Ruta, antes de volver a enviarla.")
    row = _observation(session, ruta, observation_id)
    life.answer(row, actor=actor, response=response, now=now,
                empty="Escriba la respuesta: qué ajustó la institución o por qué no lo ajustó.")
    session.flush()
    return row


def send_drafts(session: Session, ruta: Ruta, *, now: datetime) -> list[Observation]:
    """The return happened: its draft observations go to the school. Flushes."""
    sent = drafts(session, ruta)
    life.send(sent, now)
    session.flush()
    return sent


# --- what the review page shows -----------------------------------------------------------


@dataclass(frozen=True)
class SinceLastReview:
    older: PmiSnapshot
    newer: PmiSnapshot
    changes: list[pmi_versions.ElementChange]


def since_last_review(session: Session, ruta: Ruta) -> SinceLastReview | None:
    """What changed between the version the last return was about and the latest one."""
    newer = pmi_versions.latest(session, ruta)
    if newer is None:
        return None
    older = pmi_versions.last_returned(session, ruta)
    if older is None:  # returns recorded before the history named the version
        reviewed_ids = [row.snapshot_id for row in observations(session, ruta)
                        if row.returned_at is not None and row.snapshot_id is not None]
        older = (session.get(PmiSnapshot, max(reviewed_ids)) if reviewed_ids
                 else None)
    if older is None and newer.number > 1:
        older = pmi_versions.get_snapshot(session, ruta, newer.number - 1)
    if older is None or older.id == newer.id:
        return None
    return SinceLastReview(older, newer, pmi_versions.diff(
        older.content, newer.content, componentes=pmi_versions.catalog_names(ruta)))
