"""Evidence files of the autoevaluación: attaching them to valoraciones and listing them.

The checks, limits and storage of every file are ``workflow.evidencias.storage``'s; this
module ties a file to the valoración of one componente (creating the valoración, unrated,
when there is none yet), and only for who may edit that componente's área.
"""

from __future__ import annotations

from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.autoevaluacion.models import Valoracion
from workflow.autoevaluacion.team import editable_area_ids, require_editable
from workflow.catalogo.models import CatalogComponente
from workflow.errors import Forbidden, InvalidInput
from workflow.evidencias.models import EvidenceFile
from workflow.evidencias.storage import Limits, Storage, store_file
from workflow.models import Ruta, User


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
    rows = session.execute(
        select(EvidenceFile, Valoracion.componente_id)
        .join(Valoracion, Valoracion.id == EvidenceFile.valoracion_id)
        .where(EvidenceFile.ruta_id == ruta.id).order_by(EvidenceFile.id))
    found: dict[int, list[EvidenceFile]] = {}
    for evidence, componente_id in rows:
        found.setdefault(componente_id, []).append(evidence)
    return found
