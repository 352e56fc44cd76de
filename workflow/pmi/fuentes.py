"""The sources a hallazgo may come from: the shipped list and the ones a Secretaría adds.

Every Secretaría offers Saber 3.°, 5.°, 7.°, 9.° and 11, Evaluar para Avanzar, the school's
evaluación interna and «otra prueba externa» (the school names it). An administrador adds the
Secretaría's own (a municipal test, for example), external or internal. A hallazgo stores the
source's code; ``plan_content`` stores its label and whether it is external beside it, so a
frozen version reads the same after the list changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.errors import Forbidden, InvalidInput
from workflow.models import Ruta, User, utcnow
from workflow.pmi.models import FUENTE_LABELS, SECRETARIA_FUENTE_PREFIX, Fuente, FuenteSecretaria
from workflow.roles import Role


@dataclass(frozen=True)
class FuenteOption:
    code: str
    label: str
    external: bool
    shipped: bool = True


def shipped() -> list[FuenteOption]:
    return [FuenteOption(item.value, FUENTE_LABELS[item], item.external) for item in Fuente]


def secretaria_fuentes(session: Session, secretaria_id: int) -> list[FuenteSecretaria]:
    return list(session.scalars(select(FuenteSecretaria)
                                .where(FuenteSecretaria.secretaria_id == secretaria_id)
                                .order_by(FuenteSecretaria.nombre)))


def options_for(session: Session, secretaria_id: int) -> list[FuenteOption]:
    """Every source a school of the Secretaría may choose, shipped first."""
    return [*shipped(), *(FuenteOption(row.code, row.nombre, row.externa, shipped=False)
                          for row in secretaria_fuentes(session, secretaria_id))]


def options_for_ruta(session: Session, ruta: Ruta) -> list[FuenteOption]:
    return options_for(session, ruta.school.secretaria_id)


def find(session: Session, ruta: Ruta, code: str) -> FuenteOption | None:
    """The source ``code`` names, if the Ruta's Secretaría offers it."""
    if code.startswith(SECRETARIA_FUENTE_PREFIX):
        raw = code.removeprefix(SECRETARIA_FUENTE_PREFIX)
        row = session.get(FuenteSecretaria, int(raw)) if raw.isdigit() and len(raw) < 10 \
            else None
        if row is None or row.secretaria_id != ruta.school.secretaria_id:
            return None
        return FuenteOption(row.code, row.nombre, row.externa, shipped=False)
    return next((option for option in shipped() if option.code == code), None)


def add_fuente(session: Session, *, actor: User, nombre: str,
               externa: bool) -> FuenteSecretaria:
    """Add a source to the actor's Secretaría (administradores only). Flushes."""
    if actor.role is not Role.ADMINISTRADOR:
        raise Forbidden("Solo un administrador de la Secretaría agrega fuentes de hallazgos.")
    cleaned = " ".join(nombre.split())
    taken = {option.label.lower() for option in options_for(session, actor.secretaria_id)}
    if len(cleaned) < 3:
        raise InvalidInput({"nombre": ["Escriba el nombre de la fuente (por ejemplo, «Prueba "
                                       "municipal de lectura»)."]})
    if len(cleaned) > 120:
        raise InvalidInput({"nombre": ["El nombre de la fuente no puede pasar de 120 "
                                       "caracteres."]})
    if cleaned.lower() in taken:
        raise InvalidInput({"nombre": [f"«{cleaned}» ya está en la lista de fuentes."]})
    row = FuenteSecretaria(secretaria_id=actor.secretaria_id, nombre=cleaned, externa=externa,
                           created_at=utcnow(), created_by_id=actor.id)
    session.add(row)
    session.flush()
    return row
