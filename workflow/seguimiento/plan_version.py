"""Which version of the PMI a seguimiento report is drawn from.

Reports name actividades and indicadores by their live rows, and an approved adjustment of the
plan (``workflow.ajustes``) changes those rows and freezes a new PMI version. So a report
uses **the version in force at its checkpoint**:

- a version is in force from the Bogotá day it was frozen: the approved plan (the snapshot
  the Ruta's approval judged) from the start, then each approved adjustment's snapshot from
  the day of its approval. A checkpoint due on or after that day uses the newer version;
  one due before it keeps the earlier one;
- once a report is sent it keeps the version it was sent with (``pmi_snapshot_id``, set on
  the first submission), even if an adjustment is approved before its checkpoint's date;
- a Ruta approved before versions existed has no snapshot: its reports use the live plan.

The report lists the actividades of that version (numbered as in it, with its description
and dates); an actividad added later is not asked for in an earlier report.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.models import Ruta
from workflow.pmi import versions
from workflow.pmi.models import PmiSnapshot
from workflow.seguimiento.models import FollowUpReport, bogota_day


def version_in_force(session: Session, ruta: Ruta, on: date) -> PmiSnapshot | None:
    """The PMI version in force on the Bogotá day ``on`` (None: no versions, live plan)."""
    approved = versions.approval(session, ruta)
    base = approved.snapshot if approved is not None else None
    if base is None:
        return None
    later = session.scalars(select(PmiSnapshot).where(
        PmiSnapshot.ruta_id == ruta.id, PmiSnapshot.number > base.number)
        .order_by(PmiSnapshot.number)).all()
    chosen = base
    for snapshot in later:
        if bogota_day(snapshot.created_at) <= on:
            chosen = snapshot
    return chosen


def report_version(session: Session, report: FollowUpReport) -> PmiSnapshot | None:
    """The version ``report`` is drawn from: the one it was sent with, or else the one in
    force at its checkpoint."""
    if report.pmi_snapshot_id is not None:
        return session.get(PmiSnapshot, report.pmi_snapshot_id)
    return version_in_force(session, report.ruta, report.checkpoint.due_on)


def version_rows(snapshot: PmiSnapshot | None, section: str) -> dict[int, dict[str, Any]] | None:
    """The rows of ``section`` ("actividades", "indicadores") in ``snapshot`` by id (None:
    the live plan)."""
    if snapshot is None:
        return None
    return {row["id"]: row for row in snapshot.content.get(section, [])}
