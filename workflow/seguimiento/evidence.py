"""A seguimiento report's evidence files: attaching them (the checks, limits and quota of every
evidence file, ``workflow.evidencias.storage``) while the report can be edited, saving the
report's values and its new files in one go, and listing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.errors import InvalidInput
from workflow.evidencias.models import EvidenceFile
from workflow.evidencias.storage import Limits, Storage, TooLarge, display_name, store_file
from workflow.models import User
from workflow.seguimiento.form import Form
from workflow.seguimiento.models import FollowUpReport
from workflow.seguimiento.reports import require_editable, save_report

# The form field that carries the chosen files (the same name as every evidence form).
FILE_FIELD = "archivo"


@dataclass(frozen=True)
class Upload:
    """A file the person chose: its name as sent and its content."""

    filename: str
    stream: BinaryIO


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


def _shown(filename: str) -> str:
    """The file's name fit to show in a message, even when it is one ``display_name``
    refuses (a path): its last part, cut short."""
    try:
        return display_name(filename)
    except InvalidInput:
        last = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
        return "".join(char for char in last if char.isprintable())[:80] or "sin nombre"


def _not_attached(uploads: Sequence[Upload]) -> str:
    names = ", ".join(f"«{_shown(item.filename)}»" for item in uploads)
    which = "el archivo" if len(uploads) == 1 else "los archivos"
    return (f"No se adjuntó {which} {names} porque el informe no se guardó: corrija lo marcado "
            f"y vuelva a elegir {which} antes de guardar.")


def save_with_files(session: Session, storage: Storage, report: FollowUpReport, form: Form,
                    uploads: Sequence[Upload], *, actor: User, expected_version: int | None,
                    limits: Limits, now: datetime | None = None) -> list[EvidenceFile]:
    """Save the report's form and attach the chosen files, all or nothing. Flushes.

    Changes: what ``save_report`` changes, plus one ``EvidenceFile`` per upload (its blob
    in ``storage``). Refusals, before anything is committed:

    - a bad value: ``InvalidInput`` with the field's message, and under ``archivo`` which
      chosen files were not attached (the browser forgets them: they must be chosen again);
    - a refused file (type, name, empty, size, quota): ``InvalidInput`` under ``archivo``
      naming the file; blobs already stored for this submit are deleted;
    - a stale version: ``StaleReport`` (409), nothing written.

    The blobs of the returned rows are already stored: if the commit fails, the caller
    deletes them (``storage.delete(row.storage_key)``), so no blob outlives its row.
    """
    try:
        save_report(session, report, form, actor=actor, expected_version=expected_version,
                    now=now)
    except InvalidInput as invalid:
        if uploads:
            invalid.errors.setdefault(FILE_FIELD, []).append(_not_attached(uploads))
        raise
    added: list[EvidenceFile] = []
    for upload in uploads:
        try:
            evidence = store_file(session, storage, ruta=report.ruta, uploaded_by=actor,
                                  filename=upload.filename, stream=upload.stream,
                                  limits=limits)
        except (InvalidInput, TooLarge) as refused:
            for stored in added:
                storage.delete(stored.storage_key)
            raise InvalidInput({FILE_FIELD: [
                f"No se adjuntó «{_shown(upload.filename)}»: {refused.message} Vuelva a "
                "elegir el archivo; lo demás que escribió sigue en el formulario, sin "
                "guardar."]}) from refused
        evidence.follow_up_report_id = report.id
        added.append(evidence)
    session.flush()
    return added


def report_files(session: Session, report: FollowUpReport) -> list[EvidenceFile]:
    return list(session.scalars(select(EvidenceFile)
                                .where(EvidenceFile.follow_up_report_id == report.id)
                                .order_by(EvidenceFile.id)))
