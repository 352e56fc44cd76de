"""How the adjustment pages show a change: its form's fields, and current → proposed.

A change's form uses the PMI's own field names (so the PMI's parsers read it); ``field_specs``
says how each field is drawn (text, area, date, select, checkbox) with its Spanish label and
choices. ``compare`` lists, for a change, each field whose proposed value differs from the
element's current one, in words (the objetivo and meta as the plan numbers them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.ajustes.changes import LIST_FIELDS, fields_of, initial_values, plan_labels
from workflow.ajustes.models import AdjustmentChange, ChangeKind
from workflow.errors import InvalidInput
from workflow.models import Ruta
from workflow.pmi.forms import CHOICE_LABELS
from workflow.pmi.models import Meta, Objetivo, Trayectoria

LABELS = {
    "objetivo_id": "Objetivo", "tipo_meta": "Tipo de meta", "enunciado": "Enunciado",
    "cantidad": "Cantidad", "unidad": "Unidad de medida", "fecha_limite": "Fecha límite",
    "linea_base": "Línea base", "meta_id": "Meta", "tipo_indicador": "Tipo de indicador",
    "binario": "Indicador sí/no", "nombre": "Nombre del indicador", "formula": "Fórmula",
    "frecuencia": "Frecuencia de medición", "fuente": "Fuente de información",
    "descripcion": "Descripción de la actividad", "responsable": "Responsable",
    "fecha_inicio": "Fecha de inicio", "fecha_fin": "Fecha de terminación",
    "recursos": "Recursos", "costo": "Costo estimado, en pesos",
    "fuente_financiacion": "Fuente de financiación", "trayectorias": "Trayectorias diversas",
}
AREAS = frozenset({"enunciado", "descripcion", "formula", "recursos"})
DATES = frozenset({"fecha_limite", "fecha_inicio", "fecha_fin"})
EMPTY = "—"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    widget: str  # "text", "area", "date", "select", "checkbox", "checkboxes"
    options: tuple[tuple[str, str], ...] = ()


def label_of(name: str) -> str:
    if name.startswith("meta_") and name[5:].isdigit():
        return f"Meta del indicador para {name[5:]}"
    return LABELS.get(name, name)


def _options(session: Session, ruta: Ruta, name: str) -> tuple[tuple[str, str], ...]:
    labels = plan_labels(session, ruta)
    if name == "objetivo_id":
        rows = session.scalars(select(Objetivo).where(Objetivo.ruta_id == ruta.id)
                               .order_by(Objetivo.id))
        return tuple((str(row.id), f"{labels.get(f'objetivo:{row.id}', 'Objetivo')}: "
                                   f"{row.enunciado[:80]}") for row in rows)
    if name == "meta_id":
        rows = session.scalars(select(Meta).where(Meta.ruta_id == ruta.id).order_by(Meta.id))
        return tuple((str(row.id), f"{labels.get(f'meta:{row.id}', 'Meta')}: "
                                   f"{row.enunciado[:80]}") for row in rows)
    if name == "trayectorias":
        return tuple((item.value, item.label) for item in Trayectoria)
    return tuple(CHOICE_LABELS[name].items())


def field_specs(session: Session, ruta: Ruta, kind: str) -> list[FieldSpec]:
    specs = []
    for name in fields_of(ruta, kind):
        if name in ("objetivo_id", "meta_id", "tipo_meta", "tipo_indicador"):
            specs.append(FieldSpec(name, label_of(name), "select",
                                   _options(session, ruta, name)))
        elif name == "trayectorias":
            specs.append(FieldSpec(name, label_of(name), "checkboxes",
                                   _options(session, ruta, name)))
        elif name == "binario":
            specs.append(FieldSpec(name, label_of(name), "checkbox"))
        else:
            widget = "area" if name in AREAS else "date" if name in DATES else "text"
            specs.append(FieldSpec(name, label_of(name), widget))
    return specs


def _words(session: Session, ruta: Ruta, name: str, value: Any,
           labels: dict[str, str]) -> str:
    if value in (None, "", []):
        return EMPTY
    if name in ("objetivo_id", "meta_id"):
        return labels.get(f"{name.removesuffix('_id')}:{value}", str(value))
    if name == "trayectorias":
        known = {item.value: item.label for item in Trayectoria}
        return ", ".join(known.get(item, item) for item in value)
    if name == "binario":
        return "Sí" if value else "No"
    if name in CHOICE_LABELS:
        return CHOICE_LABELS[name].get(str(value), str(value))
    return str(value)


@dataclass(frozen=True)
class Compared:
    label: str
    current: str
    proposed: str


def _same(name: str, current: Any, proposed: Any) -> bool:
    if name in LIST_FIELDS:
        return sorted(map(str, current or [])) == sorted(map(str, proposed or []))
    if name == "binario":
        return bool(current) == bool(proposed)
    return str(current).strip() == str(proposed).strip()


def compare(session: Session, ruta: Ruta, change: AdjustmentChange) -> list[Compared]:
    """Current → proposed, field by field (only what differs; everything for an add)."""
    labels = plan_labels(session, ruta)
    if change.kind is ChangeKind.REMOVE:
        return []
    current: dict[str, Any] = {}
    if change.kind is ChangeKind.CHANGE and change.element_id is not None:
        try:
            current = initial_values(session, ruta, change.element_kind, change.element_id)
        except InvalidInput:  # the element is gone (another adjustment removed it)
            current = {}
    rows = []
    for name in fields_of(ruta, change.element_kind):
        proposed = change.proposed.get(name, [] if name in LIST_FIELDS else "")
        before = current.get(name, [] if name in LIST_FIELDS else "")
        if change.kind is ChangeKind.CHANGE and _same(name, before, proposed):
            continue
        if change.kind is ChangeKind.ADD and proposed in ("", []):
            continue
        rows.append(Compared(label_of(name), _words(session, ruta, name, before, labels)
                             if change.kind is ChangeKind.CHANGE else EMPTY,
                             _words(session, ruta, name, proposed, labels)))
    return rows
