"""A Ruta's checkpoints as seguimiento sees them: which ones can be reported, the rows of the
Ruta page, finding one in the Ruta's calendar, and removing one from a calendar (refused once a
school reported on it).

Which checkpoints can be reported: those whose date has arrived and the next one (a school
may report early, when its period's work is done; it cannot report a semester that has not
begun). The Ruta must be in ``seguimiento``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflow.errors import InvalidInput, NotFound
from workflow.horizontes.calendar import calendar_for
from workflow.horizontes.models import FollowUpCheckpoint, HorizonCalendar
from workflow.models import Ruta
from workflow.ruta_rows import rows_of
from workflow.seguimiento.models import REPORTING_STATES, SUBMITTED, FollowUpReport


def reportable_ids(checkpoints: Sequence[FollowUpCheckpoint], today: date) -> set[int]:
    """Checkpoints whose date has arrived, and the next one."""
    ordered = sorted(checkpoints, key=lambda point: (point.due_on, point.id))
    found = {point.id for point in ordered if point.due_on <= today}
    upcoming = next((point for point in ordered if point.due_on > today), None)
    if upcoming is not None:
        found.add(upcoming.id)
    return found


def calendar_of(session: Session, ruta: Ruta) -> HorizonCalendar | None:
    return calendar_for(session, ruta.school.secretaria_id, ruta.horizon_start_year)


def checkpoints_of(session: Session, ruta: Ruta) -> list[FollowUpCheckpoint]:
    calendar = calendar_of(session, ruta)
    return list(calendar.checkpoints) if calendar is not None else []


@dataclass(frozen=True)
class CheckpointRow:
    """One checkpoint as the Ruta page lists it."""

    checkpoint: FollowUpCheckpoint
    report: FollowUpReport | None
    reportable: bool
    # The date has passed and the school has not sent its report.
    missing: bool

    @property
    def status_label(self) -> str:
        if self.report is not None:
            label = self.report.status.label
            return f"{label} (tarde)" if self.report.late else label
        if self.missing:
            return "Sin informe (vencido)"
        return "Sin informe" if self.reportable else "Todavía no se informa"


def checkpoint_rows(session: Session, ruta: Ruta, today: date) -> list[CheckpointRow]:
    points = checkpoints_of(session, ruta)
    reports = {report.checkpoint_id: report
               for report in rows_of(session, FollowUpReport, ruta.id)}
    allowed = reportable_ids(points, today)
    rows = []
    for point in points:
        report = reports.get(point.id)
        sent = report is not None and report.status in SUBMITTED
        rows.append(CheckpointRow(
            checkpoint=point, report=report,
            reportable=point.id in allowed and ruta.state in REPORTING_STATES,
            missing=ruta.state in REPORTING_STATES and point.due_on < today and not sent))
    return rows


def checkpoint_for(session: Session, ruta: Ruta, checkpoint_id: int | None) -> FollowUpCheckpoint:
    """A checkpoint of the calendar of ``ruta``'s Secretaría and horizon; 404 for any other."""
    calendar = calendar_of(session, ruta)
    found = next((point for point in (calendar.checkpoints if calendar else [])
                  if point.id == checkpoint_id), None)
    if found is None:
        raise NotFound("No encontramos ese corte de seguimiento en el calendario de esta Ruta.")
    return found


def delete_checkpoint(session: Session, checkpoint: FollowUpCheckpoint) -> None:
    """Remove a checkpoint. The reminders it caused stay on the Rutas' pages.

    A checkpoint some school already reported on is kept: its reports are part of that
    school's record. It can still be renamed or moved.
    """
    reports = session.scalar(select(func.count()).select_from(FollowUpReport).where(
        FollowUpReport.checkpoint_id == checkpoint.id)) or 0
    if reports:
        raise InvalidInput({"": [
            f"El corte «{checkpoint.name}» ya tiene {reports} "
            f"{'informe' if reports == 1 else 'informes'} de seguimiento, que son parte del "
            "registro de cada institución: no se puede eliminar. Puede cambiarle el nombre o "
            "la fecha."]})
    checkpoint.calendar.checkpoints.remove(checkpoint)
    session.flush()
