"""Evidence files of the autoevaluación: attaching them to valoraciones and listing them.

The checks, limits and storage of every file are ``workflow.evidencias.storage``'s; this
module ties a file to the valoración of one componente (creating the valoración, unrated,
when there is none yet), and only for who may edit that componente's área.

``save_proceso_with_files`` is what the área page's proceso form does: the levels and texts
of a proceso and a file per componente, saved together or not at all. A refused file refuses
the whole save and names the file and why; every blob stored before the refusal is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.autoevaluacion import ratings
from workflow.autoevaluacion.models import Valoracion
from workflow.autoevaluacion.team import editable_area_ids, require_editable
from workflow.catalogo.models import CatalogComponente, CatalogProceso
from workflow.errors import Forbidden, InvalidInput
from workflow.evidencias.models import EvidenceFile
from workflow.evidencias.storage import Limits, Storage, TooLarge, store_file
from workflow.models import Ruta, User
from workflow.ruta_rows import rows_of


def _componente_of(ruta: Ruta, componente_id: int | None) -> CatalogComponente:
    catalog = getattr(ruta, "catalog", None)
    found = next((c for c in (catalog.componentes if catalog else [])
                  if c.id == componente_id), None)
    if found is None:
        raise InvalidInput({"componente": ["Ese componente no está en el instrumento de esta "
                                           "Ruta."]})
    return found


def attach_to_valoracion(session: Session, storage: Storage, ruta: Ruta, *,
                         componente_id: int | None, actor: User, filename: str | None,
                         stream: BinaryIO, limits: Limits) -> EvidenceFile:
    """Attach a file to the valoración of one componente of ``ruta``'s autoevaluación.

    Who: the rector, or a team member the componente's área is assigned to, while the
    autoevaluación is editable. Creates the valoración (unrated) when it does not exist yet.
    """
    componente = _componente_of(ruta, componente_id)
    if componente.proceso.area_id not in editable_area_ids(session, ruta, actor):
        raise Forbidden("Solo el rector o la rectora y el equipo que tiene asignada esta área "
                        "pueden adjuntar evidencias aquí.")
    require_editable(session, ruta)
    valoracion = session.scalar(select(Valoracion).where(
        Valoracion.ruta_id == ruta.id, Valoracion.componente_id == componente.id))
    if valoracion is None:
        valoracion = Valoracion(ruta_id=ruta.id, componente_id=componente.id, level=None,
                                evidence="", comments="", updated_by_id=actor.id)
        session.add(valoracion)
        session.flush()
    return store_file(session, storage, ruta=ruta, uploaded_by=actor, filename=filename,
                      stream=stream, limits=limits, valoracion_id=valoracion.id)


def files_by_componente(session: Session, ruta: Ruta) -> dict[int, list[EvidenceFile]]:
    """The Ruta's autoevaluación files, by componente id, oldest first."""
    componentes = {row.id: row.componente_id for row in rows_of(session, Valoracion, ruta.id)}
    found: dict[int, list[EvidenceFile]] = {}
    for evidence in rows_of(session, EvidenceFile, ruta.id):
        if evidence.valoracion_id in componentes:
            found.setdefault(componentes[evidence.valoracion_id], []).append(evidence)
    return found


def file_field(componente_id: int) -> str:
    """The proceso form's file input of one componente."""
    return f"archivo-{componente_id}"


AGAIN = "Vuelva a elegir el archivo."


@dataclass(frozen=True)
class Upload:
    """One file chosen in the proceso form."""

    filename: str
    stream: BinaryIO


class FilesRefused(InvalidInput):
    """The proceso was not saved because of its files (and maybe its values): 413 when a file
    is too large or over the quota, 422 otherwise. ``errors`` names each file and why."""

    def __init__(self, errors: dict[str, list[str]], *, too_large: bool) -> None:
        super().__init__(errors)
        self.status = 413 if too_large else 422


@dataclass
class ProcesoSaved:
    result: ratings.SaveResult
    files: list[EvidenceFile] = field(default_factory=list)


def not_saved_files(uploads: Mapping[int, Upload], errors: Mapping[str, list[str]]
                    ) -> dict[str, list[str]]:
    """For a save refused for another reason: each chosen file that was fine was not kept
    either, and the browser cannot keep it; say so beside that file only."""
    return {file_field(componente_id): [f"«{upload.filename}» no se guardó porque el "
                                        f"formulario tenía errores. {AGAIN}"]
            for componente_id, upload in uploads.items()
            if file_field(componente_id) not in errors}


def save_proceso_with_files(session: Session, storage: Storage, ruta: Ruta,
                            proceso: CatalogProceso, entries: Mapping[int, ratings.RatingInput],
                            uploads: Mapping[int, Upload], *, actor: User, limits: Limits,
                            now: datetime | None = None) -> ProcesoSaved:
    """Save a proceso's valoraciones and attach one file per componente, all or nothing.

    Changes: the valoraciones (``ratings.save_proceso``: its checks, its ``StaleEdit``) and
    one ``EvidenceFile`` row plus one stored blob per file. Any refusal (a value, a file's
    name, type or size, the quota) raises ``InvalidInput`` (``FilesRefused`` when a file was
    refused) with every problem found, after deleting the blobs already stored; nothing is
    flushed that the caller must keep. Flushes; the caller commits and, if the commit fails,
    deletes the blobs of ``files``.
    """
    for componente_id in uploads:
        componente = session.get(CatalogComponente, componente_id)
        if componente is None or componente.proceso_id != proceso.id:
            raise InvalidInput({"componente": ["El formulario trae un archivo de un componente "
                                               "que no es de este proceso."]})
    try:
        result = ratings.save_proceso(session, ruta, proceso, entries, actor=actor, now=now,
                                      files_coming=set(uploads))
    except InvalidInput as invalid:
        raise InvalidInput({**invalid.errors,
                            **not_saved_files(uploads, invalid.errors)}) from None
    saved = ProcesoSaved(result)
    errors: dict[str, list[str]] = {}
    too_large = False
    try:
        for componente_id, upload in uploads.items():
            try:
                saved.files.append(attach_to_valoracion(
                    session, storage, ruta, componente_id=componente_id, actor=actor,
                    filename=upload.filename, stream=upload.stream, limits=limits))
            except (InvalidInput, TooLarge) as refused:
                too_large = too_large or isinstance(refused, TooLarge)
                componente = session.get(CatalogComponente, componente_id)
                code = componente.code if componente else str(componente_id)
                errors[file_field(componente_id)] = [
                    f"{code}: no se adjuntó «{upload.filename}». {refused.message} {AGAIN}"]
        if errors:
            errors.update(not_saved_files(uploads, errors))
            raise FilesRefused(errors, too_large=too_large)
    except BaseException:
        for stored in saved.files:
            storage.delete(stored.storage_key)
        raise
    return saved
