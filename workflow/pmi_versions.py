"""Versions of a PMI: an immutable snapshot per submission, and element-by-element diffs.

Every ``formular_pmi`` freezes the autoevaluación summary and the whole PMI as they were sent
(``workflow.pmi.plan_content``). Database triggers refuse UPDATE and DELETE of a snapshot.
Reviews and their observations refer to the snapshot they read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from workflow.errors import NotFound
from workflow.models import Base, Ruta, User, utcnow
from workflow.pmi import element_labels, plan_content


class PmiSnapshot(Base):
    __tablename__ = "pmi_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    # 1 for the first submission of the Ruta's PMI, 2 for the next, ...
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)

    created_by: Mapped[User | None] = relationship()

    __table_args__ = (UniqueConstraint("ruta_id", "number", name="uq_pmi_snapshots_number"),)

    @property
    def label(self) -> str:
        return f"Versión {self.number}"


def freeze(session: Session, ruta: Ruta, *, actor: User | None,
           now: datetime | None = None) -> PmiSnapshot:
    """Append the next snapshot of the Ruta's PMI. Flushes."""
    last = session.scalar(select(func.max(PmiSnapshot.number))
                          .where(PmiSnapshot.ruta_id == ruta.id)) or 0
    snapshot = PmiSnapshot(ruta_id=ruta.id, number=last + 1, created_at=now or utcnow(),
                           created_by_id=None if actor is None else actor.id,
                           content=plan_content(session, ruta))
    session.add(snapshot)
    session.flush()
    return snapshot


def snapshots(session: Session, ruta: Ruta) -> list[PmiSnapshot]:
    return list(session.scalars(select(PmiSnapshot).where(PmiSnapshot.ruta_id == ruta.id)
                                .order_by(PmiSnapshot.number)))


def latest(session: Session, ruta: Ruta) -> PmiSnapshot | None:
    return session.scalar(select(PmiSnapshot).where(PmiSnapshot.ruta_id == ruta.id)
                          .order_by(PmiSnapshot.number.desc()).limit(1))


def get_snapshot(session: Session, ruta: Ruta, number: int) -> PmiSnapshot:
    found = session.scalar(select(PmiSnapshot).where(PmiSnapshot.ruta_id == ruta.id,
                                                     PmiSnapshot.number == number))
    if found is None:
        raise NotFound("No encontramos esa versión del PMI.")
    return found


# --- diffs --------------------------------------------------------------------------------

# The element lists of a plan and the kind each row is.
SECTIONS = (("hallazgos", "hallazgo"), ("objetivos", "objetivo"), ("metas", "meta"),
            ("indicadores", "indicador"), ("actividades", "actividad"),
            ("aplazamientos", "aplazamiento"))
FIELD_LABELS = {
    "fuente": "Fuente", "area": "Área", "grado": "Grado", "descripcion": "Descripción",
    "enunciado": "Enunciado", "componentes": "Oportunidades que atiende",
    "hallazgos": "Hallazgos que atiende", "objetivo_id": "Objetivo", "cantidad": "Cantidad",
    "unidad": "Unidad de medida", "fecha_limite": "Fecha límite", "linea_base": "Línea base",
    "meta_id": "Meta", "nombre": "Nombre", "formula": "Fórmula", "frecuencia": "Frecuencia",
    "metas_anuales": "Meta por año", "responsable": "Responsable",
    "fecha_inicio": "Fecha de inicio", "fecha_fin": "Fecha de terminación",
    "recursos": "Recursos", "costo": "Costo estimado",
    "fuente_financiacion": "Fuente de financiación", "trayectorias": "Trayectorias diversas",
    "componente_id": "Oportunidad", "razon": "Razón", "presupuesto": "Presupuesto",
    "divulgacion": "Divulgación", "divulgacion_fecha": "Fecha de divulgación",
}


@dataclass(frozen=True)
class FieldChange:
    name: str
    label: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ElementChange:
    kind: str  # "added", "removed", "changed"
    element: str  # "meta:7"
    label: str  # "Meta 1.2", as numbered in the newer version (the older one when removed)
    fields: list[FieldChange]

    @property
    def kind_label(self) -> str:
        return {"added": "Agregado", "removed": "Eliminado", "changed": "Modificado"}[self.kind]


def _rows(content: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    rows = {"plan": dict(content.get("plan", {}))}
    for section, kind in SECTIONS:
        for row in content.get(section, []):
            rows[f"{kind}:{row['id']}"] = {name: value for name, value in row.items()
                                           if name != "id"}
    return rows


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[ElementChange]:
    """What changed from ``before`` to ``after``, element by element, in the newer order."""
    old_rows, new_rows = _rows(before), _rows(after)
    old_labels, new_labels = element_labels(before), element_labels(after)
    changes = []
    for key, row in new_rows.items():
        if key not in old_rows:
            changes.append(ElementChange("added", key, new_labels.get(key, key), [
                FieldChange(name, FIELD_LABELS.get(name, name), None, value)
                for name, value in row.items()]))
            continue
        fields = [FieldChange(name, FIELD_LABELS.get(name, name), old_rows[key].get(name), value)
                  for name, value in row.items() if old_rows[key].get(name) != value]
        if fields:
            changes.append(ElementChange("changed", key, new_labels.get(key, key), fields))
    for key, row in old_rows.items():
        if key not in new_rows:
            changes.append(ElementChange("removed", key, old_labels.get(key, key), [
                FieldChange(name, FIELD_LABELS.get(name, name), value, None)
                for name, value in row.items()]))
    return changes


def diff_snapshots(session: Session, ruta: Ruta, older: int,
                   newer: int) -> list[ElementChange]:
    return diff(get_snapshot(session, ruta, older).content,
                get_snapshot(session, ruta, newer).content)
