"""The Ruta transition that closes a Ruta, guarded by its final evaluation.

``cerrar`` needs ``final_evaluation_recorded``: the rector registered the final evaluation
(``evaluacion_final``). It is also refused while something of the Ruta waits for someone
(``pending_reasons``): a follow-up report sent and not yet acknowledged or returned, or an
observation on a report that was sent and is not resolved; closing would leave them
impossible to act on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.cierre import evaluacion_final
from workflow.errors import GuardFailed
from workflow.guards import GuardResult, TransitionInput, failed_unless_empty, lock_ruta
from workflow.models import Ruta, RutaTransition, User
from workflow.observations import SENT
from workflow.seguimiento.models import FollowUpObservation, FollowUpReport, ReportStatus
from workflow.services import check_attempt, transition
from workflow.states import Trigger

PENDING_MESSAGE = "La Ruta no se puede cerrar todavía: hay revisiones pendientes."


def pending_reasons(session: Session, ruta: Ruta) -> list[str]:
    """What of the Ruta still waits: reports not acknowledged, observations not resolved."""
    reports = session.scalars(select(FollowUpReport).where(
        FollowUpReport.ruta_id == ruta.id, FollowUpReport.status == ReportStatus.ENVIADO)
        .order_by(FollowUpReport.id)).all()
    # Named as people know them: by their checkpoint («Seguimiento 1er semestre 2025»).
    reasons = [f"El informe «{report.checkpoint.name}» fue enviado y la Secretaría no lo ha "
               "reconocido ni devuelto." for report in reports]
    observations = session.scalars(
        select(FollowUpObservation).join(FollowUpReport,
                                         FollowUpObservation.report_id == FollowUpReport.id)
        .where(FollowUpReport.ruta_id == ruta.id, FollowUpObservation.status.in_(SENT))
        .order_by(FollowUpObservation.id)).all()
    names = {report.id: report.checkpoint.name for report in session.scalars(
        select(FollowUpReport).where(FollowUpReport.id.in_(
            {row.report_id for row in observations})))}
    reasons += [f"La observación «{row.element_label}» del informe «{names[row.report_id]}» "
                f"sigue sin resolver ({row.status.label.lower()})." for row in observations]
    return reasons


def final_evaluation_recorded(session: Session, ruta: Ruta,
                              given: TransitionInput) -> GuardResult:
    # Locked first, so the rector cannot reopen the evaluation while the Ruta closes.
    lock_ruta(session, ruta)
    return failed_unless_empty(evaluacion_final.unrecorded_reasons(session, ruta))


def close(session: Session, ruta: Ruta, *, reviewer: User, expected_version: int,
          observations: str = "", now: datetime | None = None) -> RutaTransition:
    """seguimiento → cerrado. Changes: state; appends the audit row.

    Refused (``GuardFailed``, one reason per item) while ``pending_reasons`` lists anything."""
    check_attempt(session, ruta, Trigger.CERRAR, actor=reviewer,
                  expected_version=expected_version)
    lock_ruta(session, ruta)
    pending = pending_reasons(session, ruta)
    if pending:
        raise GuardFailed(PENDING_MESSAGE, pending)
    return transition(session, ruta, Trigger.CERRAR, actor=reviewer,
                      expected_version=expected_version,
                      given=TransitionInput(observations=observations), now=now,
                      guards_from={"final_evaluation_recorded": final_evaluation_recorded})
