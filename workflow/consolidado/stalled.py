"""«Estancadas»: Rutas that owe something and have not moved for the stall threshold.

A Ruta is **estancada** when both hold:

1. it owes something to the Secretaría:
   - in ``borrador``: the sending of its autoevaluación (also after a return to it);
   - in ``autoevaluacion_enviada``: the sending of its PMI (also after a return of the plan,
     with the answers to the observations);
   - in ``seguimiento``: a seguimiento report for a checkpoint already due and never sent, or
     a report the Secretaría returned and the school has not sent again;
2. nothing has happened for more than the threshold (``STALLED_DAYS``): no transition of
   the Ruta and no seguimiento report sent (first sending or resending).

A Ruta waiting on the Secretaría (``pmi_formulado``, ``en_revision``), an approved plan waiting
for its seguimiento to start (``aprobado``) and a closed Ruta owe nothing: they are never
estancadas, however long they wait. The threshold is the deployment's ``STALLED_DAYS``
(30 days by default), the same for every Secretaría it serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflow.consolidado.id_lists import among
from workflow.models import Ruta, RutaTransition
from workflow.seguimiento.models import FollowUpReport, ReportStatus
from workflow.seguimiento.progress import FollowUpProgress
from workflow.states import State

BATCH = 500

OWES_SELF_ASSESSMENT = "el envío de la autoevaluación"
OWES_PMI = "el envío del PMI"
OWES_ANSWERS = "el reenvío del PMI con las respuestas a las observaciones"
OWES_RETURNED_REPORT = "el reenvío de un informe de seguimiento devuelto"


def reports_owed(count: int) -> str:
    if count == 1:
        return "un informe de seguimiento vencido"
    return f"{count} informes de seguimiento vencidos"


@dataclass(frozen=True)
class Stall:
    """What a Ruta owes ("" if nothing), when it last moved, and whether that makes it
    estancada."""

    owes: str
    last_activity: datetime
    idle_days: int
    stalled: bool


def _latest(rows: Sequence[tuple[int, datetime | None]],
            found: dict[int, datetime]) -> None:
    for ruta_id, moment in rows:
        if moment is not None and (ruta_id not in found or moment > found[ruta_id]):
            found[ruta_id] = moment


def last_activity(session: Session, rutas: Sequence[Ruta]) -> dict[int, datetime]:
    """Per Ruta: its latest transition or seguimiento report sent (its state change if
    it has no audit rows)."""
    found: dict[int, datetime] = {ruta.id: ruta.state_changed_at for ruta in rutas}
    ids = list(found)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        _latest(session.execute(select(RutaTransition.ruta_id, func.max(RutaTransition.at))
                                .where(among(session, RutaTransition.ruta_id, chunk))
                                .group_by(RutaTransition.ruta_id)).all(), found)
        for column in (FollowUpReport.submitted_at, FollowUpReport.last_submitted_at):
            _latest(session.execute(select(FollowUpReport.ruta_id, func.max(column))
                                    .where(among(session, FollowUpReport.ruta_id, chunk))
                                    .group_by(FollowUpReport.ruta_id)).all(), found)
    return found


def returned_reports_of(session: Session, ruta_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(ruta_ids), BATCH):
        found.update(session.scalars(select(FollowUpReport.ruta_id).where(
            among(session, FollowUpReport.ruta_id, ruta_ids[start:start + BATCH]),
            FollowUpReport.status == ReportStatus.DEVUELTO)))
    return found


def was_returned(session: Session, ruta_ids: Sequence[int]) -> set[int]:
    """Rutas whose latest review decision was a return (they owe answers too)."""
    found: set[int] = set()
    for start in range(0, len(ruta_ids), BATCH):
        latest = (select(RutaTransition.ruta_id, func.max(RutaTransition.id).label("last_id"))
                  .where(among(session, RutaTransition.ruta_id, ruta_ids[start:start + BATCH]))
                  .group_by(RutaTransition.ruta_id).subquery())
        found.update(session.scalars(
            select(RutaTransition.ruta_id).join(latest, latest.c.last_id == RutaTransition.id)
            .where(RutaTransition.trigger == "devolver")))
    return found


def owed(ruta: Ruta, progress: FollowUpProgress | None, *, returned_plan: bool,
         returned_report: bool) -> str:
    """What ``ruta`` owes the Secretaría, in words ("" when nothing)."""
    if ruta.state is State.BORRADOR:
        return OWES_SELF_ASSESSMENT
    if ruta.state is State.AUTOEVALUACION_ENVIADA:
        return OWES_ANSWERS if returned_plan else OWES_PMI
    if ruta.state is State.SEGUIMIENTO:
        parts = []
        missing = 0 if progress is None else max(progress.due - progress.reports, 0)
        if missing:
            parts.append(reports_owed(missing))
        if returned_report:
            parts.append(OWES_RETURNED_REPORT)
        return " y ".join(parts)
    return ""


def stalls(session: Session, rutas: Sequence[Ruta],
           progress: Mapping[int, FollowUpProgress], *, now: datetime,
           stalled_days: int) -> dict[int, Stall]:
    """The stall of every Ruta in ``rutas`` (a few grouped queries per 500 Rutas)."""
    moved = last_activity(session, rutas)
    returned_plans = was_returned(session, [ruta.id for ruta in rutas
                                             if ruta.state is State.AUTOEVALUACION_ENVIADA])
    returned_reports = returned_reports_of(session, [ruta.id for ruta in rutas
                                                   if ruta.state is State.SEGUIMIENTO])
    threshold = timedelta(days=stalled_days)
    result = {}
    for ruta in rutas:
        owes = owed(ruta, progress.get(ruta.id), returned_plan=ruta.id in returned_plans,
                    returned_report=ruta.id in returned_reports)
        last = moved[ruta.id]
        result[ruta.id] = Stall(owes, last, max((now - last).days, 0),
                                bool(owes) and now - last > threshold)
    return result
