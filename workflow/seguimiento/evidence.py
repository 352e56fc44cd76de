"""A seguimiento report's evidence files: attaching one (the checks, limits and quota of every
evidence file, ``workflow.evidencias.storage``) while the report can be edited, and listing them.
"""

from __future__ import annotations

from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.evidencias.models import EvidenceFile
from workflow.evidencias.storage import Limits, Storage, store_file
from workflow.models import User
from workflow.seguimiento.models import FollowUpReport
from workflow.seguimiento.reports import require_editable


def attach_to_report(session: Session, storage: Storage, report: FollowUpReport, *, actor: User,
                     filename: str | None, stream: BinaryIO, limits: Limits) -> EvidenceFile:
    """Attach a file to a seguimiento report (``workflow.seguimiento.models.FollowUpReport``).

    Who: the rector or the equipo de gestión, while the report can be edited. Same checks,
    limits and quota as every evidence file.
    """
    require_editable(session, report, actor)
    evidence = store_file(session, storage, ruta=report.ruta, uploaded_by=actor,
                          filename=filename, stream=stream, limits=limits)
    evidence.follow_up_report_id = report.id
    session.flush()
    return evidence


def report_files(session: Session, report: FollowUpReport) -> list[EvidenceFile]:
    return list(session.scalars(select(EvidenceFile)
                                .where(EvidenceFile.follow_up_report_id == report.id)
                                .order_by(EvidenceFile.id)))
