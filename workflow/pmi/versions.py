"""Versions of a PMI: an immutable snapshot per submission, and element-by-element diffs.

Every ``formular_pmi`` freezes the autoevaluación summary and the whole PMI as they were sent
(``workflow.pmi.plan.plan_content``). Database triggers refuse UPDATE and DELETE of a snapshot.
Reviews refer to the snapshot they judged: each observation in its ``snapshot_id``, each take,
return and approval in its history row (``extra["snapshot_id"]``).

A diff compares two snapshots element by element (the autoevaluación's componentes, then the
plan's elements) and says every value as a person reads it: "Meta 1.1", "DIR.1.2 Liderazgo",
"2024: 40 %; 2025: 45 %", "Saber 11", "30 de noviembre de 2026".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflow.dates import fecha
from workflow.errors import NotFound
from workflow.models import Ruta, RutaTransition, User, utcnow
from workflow.pmi.models import (
    COMPARACION_LABELS,
    FUENTE_LABELS,
    META_TIPO_LABELS,
    TRAYECTORIA_LABELS,
    IndicadorTipo,
    PmiSnapshot,
    ValorUnidad,
)
from workflow.pmi.plan import element_labels, plan_content
from workflow.ruta_rows import rows_of
from workflow.states import Trigger


def freeze(session: Session, ruta: Ruta, *, actor: User | None,
           now: datetime | None = None) -> PmiSnapshot:
    """Append the next snapshot of the Ruta's PMI. Flushes."""
    last = session.scalar(select(func.max(PmiSnapshot.number))
                          .where(PmiSnapshot.ruta_id == ruta.id)) or 0
    snapshot = PmiSnapshot(ruta_id=ruta.id, number=last + 1, created_at=now or utcnow(),
                           created_by_id=None if actor is None else actor.id,
                           content=plan_content(session, ruta, fresh=True))
    session.add(snapshot)
    session.flush()
    return snapshot


def snapshots(session: Session, ruta: Ruta) -> list[PmiSnapshot]:
    return sorted(rows_of(session, PmiSnapshot, ruta.id), key=lambda row: row.number)


def latest(session: Session, ruta: Ruta) -> PmiSnapshot | None:
    # ``snapshots``' own statement (a Ruta has a handful of versions): a page that lists or
    # judges them too reads them once (``ruta.read_memo``).
    found = snapshots(session, ruta)
    return found[-1] if found else None


def get_snapshot(session: Session, ruta: Ruta, number: int) -> PmiSnapshot:
    found = session.scalar(select(PmiSnapshot).where(PmiSnapshot.ruta_id == ruta.id,
                                                     PmiSnapshot.number == number))
    if found is None:
        raise NotFound("No encontramos esa versión del PMI.")
    return found


# --- what each review judged -------------------------------------------------------------

# The history rows that judge a version of the PMI.
JUDGING_TRIGGERS = (Trigger.TOMAR_REVISION.value, Trigger.DEVOLVER.value, Trigger.APROBAR.value)
JUDGMENT_LABELS = {Trigger.TOMAR_REVISION.value: "Tomada para revisión",
                   Trigger.DEVOLVER.value: "Devuelta con observaciones",
                   Trigger.APROBAR.value: "Aprobada"}


@dataclass(frozen=True)
class Judgment:
    """A take, return or approval of the Secretaría, and the version it judged."""

    entry: RutaTransition
    snapshot: PmiSnapshot | None

    @property
    def label(self) -> str:
        return JUDGMENT_LABELS[self.entry.trigger]


def judgments(session: Session, ruta: Ruta) -> list[Judgment]:
    """Every take, return and approval of the Ruta, oldest first, with the snapshot judged.

    Rows written before the snapshot was recorded name none, except an approval: nothing is
    submitted after it, so it judged the latest version.
    """
    by_id = {row.id: row for row in snapshots(session, ruta)}
    newest = max(by_id.values(), key=lambda row: row.number, default=None)
    found = []
    # The Ruta's history (its pages draw it, and the situation reads it), not a query of its
    # own: services append their transition to it (``RutaTransition(ruta=...)``).
    judging = sorted((row for row in ruta.transitions if row.trigger in JUDGING_TRIGGERS),
                     key=lambda row: (row.at, row.id))
    for entry in judging:
        snapshot_id = (entry.extra or {}).get("snapshot_id")
        snapshot = by_id.get(snapshot_id) if isinstance(snapshot_id, int) else None
        if snapshot is None and entry.trigger == Trigger.APROBAR.value:
            snapshot = newest
        found.append(Judgment(entry, snapshot))
    return found


def approval(session: Session, ruta: Ruta) -> Judgment | None:
    """The Secretaría's approval of the PMI, if it was approved."""
    approved = [row for row in judgments(session, ruta)
                if row.entry.trigger == Trigger.APROBAR.value]
    return approved[-1] if approved else None


def last_returned(session: Session, ruta: Ruta) -> PmiSnapshot | None:
    """The version the last return judged (None when no return recorded one)."""
    returned = [row.snapshot for row in judgments(session, ruta)
                if row.entry.trigger == Trigger.DEVOLVER.value and row.snapshot is not None]
    return returned[-1] if returned else None


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
    "tipo": "Tipo", "binario": "Indicador sí/no", "razon_fortaleza": "Por qué trabaja sobre "
    "una fortaleza", "fuente_nombre": "Nombre de la prueba", "anio": "Año",
    "valor": "Valor", "valor_unidad": "Unidad del valor", "comparacion": "Comparación",
    "comparacion_valor": "Valor de comparación",
}
# Fields whose label depends on the element's kind.
KIND_FIELD_LABELS = {("hallazgo", "componentes"): "Componentes a los que apunta",
                     ("hallazgo", "area"): "Área o competencia",
                     ("meta", "tipo"): "Tipo de meta", ("indicador", "tipo"): "Tipo de indicador"}
# What a version stores beside a field to read it later; not a change of its own.
DERIVED_FIELDS = frozenset({"fuente_label", "fuente_externa"})
# The autoevaluación summary a snapshot stores, per componente.
AUTO_FIELD_LABELS = {"clasificacion": "Clasificación", "level": "Valoración",
                     "score": "Puntaje de prioridad"}
CLASSIFICATION_LABELS = {"oportunidad": "Oportunidad de mejoramiento",
                         "fortaleza": "Fortaleza"}
DATE_FIELDS = frozenset({"fecha_limite", "fecha_inicio", "fecha_fin", "divulgacion_fecha"})
PESOS_FIELDS = frozenset({"presupuesto", "costo"})
NUMBER_FIELDS = frozenset({"cantidad", "linea_base", "valor", "comparacion_valor"})
EMPTY = "—"


@dataclass(frozen=True)
class FieldChange:
    name: str
    label: str
    before: Any
    after: Any
    # The values as a person reads them (what the pages show).
    before_text: str = field(default=EMPTY, compare=False)
    after_text: str = field(default=EMPTY, compare=False)


@dataclass(frozen=True)
class ElementChange:
    kind: str  # "added", "removed", "changed"
    element: str  # "meta:7", "componente:12"
    label: str  # "Meta 1.2", as numbered in the newer version (the older one when removed)
    fields: list[FieldChange]
    section: str = "pmi"  # "autoevaluacion" for a componente of the autoevaluación summary

    @property
    def kind_label(self) -> str:
        if self.section == "autoevaluacion":
            return {"added": "Valorado", "removed": "Sin valoración",
                    "changed": "Modificado"}[self.kind]
        return {"added": "Agregado", "removed": "Eliminado", "changed": "Modificado"}[self.kind]


def number_text(value: float | int) -> str:
    """12.5 → "12,5"; 45.0 → "45"."""
    return f"{value:g}".replace(".", ",") if isinstance(value, float) else str(value)


def pesos_text(value: int) -> str:
    return "$" + f"{value:,}".replace(",", ".")


def date_text(value: str) -> str:
    try:
        return fecha(date.fromisoformat(value))
    except ValueError:
        return value


def _is_percent(unit: str) -> bool:
    return "%" in unit or "porcentaje" in unit.lower()


@dataclass(frozen=True)
class _Names:
    """How one version names what its rows point at."""

    labels: Mapping[str, str]
    componentes: Mapping[int, str]

    def element(self, key: str, missing: str) -> str:
        return self.labels.get(key, missing)

    def componente(self, componente_id: Any) -> str:
        return self.componentes.get(componente_id, f"Componente {componente_id}")


def _componente_names(*contents: Mapping[str, Any],
                      extra: Mapping[int, str] | None = None) -> dict[int, str]:
    names = dict(extra or {})
    for content in contents:
        summary = content.get("autoevaluacion", {})
        for item in [*summary.get("oportunidades", []), *summary.get("fortalezas", [])]:
            names.setdefault(item["componente_id"], f"{item['code']} {item['name']}")
    return names


def _filled(value: Any) -> bool:
    return not (value is None or value == "" or value == [] or value == {})


def display(kind: str, name: str, value: Any, row: Mapping[str, Any], names: _Names) -> str:
    """One field of one element as a person reads it."""
    if not _filled(value):
        return EMPTY
    if kind == "hallazgo" and name == "fuente":
        return row.get("fuente_label") or next(
            (label for fuente, label in FUENTE_LABELS.items() if fuente.value == value),
            str(value))
    if kind == "meta" and name == "tipo":
        return next((label for item, label in META_TIPO_LABELS.items() if item.value == value),
                    str(value))
    if kind == "indicador" and name == "tipo":
        return next((item.label for item in IndicadorTipo if item.value == value), str(value))
    if name == "valor_unidad":
        return next((item.label for item in ValorUnidad if item.value == value), str(value))
    if name == "comparacion":
        return next((label for item, label in COMPARACION_LABELS.items()
                     if item.value == value), str(value))
    if kind == "hallazgo" and name == "componentes":
        return "; ".join(names.componente(item) for item in value)
    if name == "componentes":
        return "; ".join(names.componente(item) for item in value)
    if name == "componente_id":
        return names.componente(value)
    if name == "hallazgos":
        return ", ".join(names.element(f"hallazgo:{item}", "un hallazgo eliminado")
                         for item in value)
    if name == "objetivo_id":
        return names.element(f"objetivo:{value}", "un objetivo eliminado")
    if name == "meta_id":
        return names.element(f"meta:{value}", "una meta eliminada")
    if name == "metas_anuales":
        suffix = " %" if _is_percent(str(row.get("unidad", ""))) else ""
        return "; ".join(f"{year}: {number_text(target)}{suffix}"
                         for year, target in sorted(value.items()))
    if name == "trayectorias":
        known = {item.value: label for item, label in TRAYECTORIA_LABELS.items()}
        return ", ".join(known.get(item, str(item)) for item in value)
    if name in DATE_FIELDS:
        return date_text(str(value))
    if name in PESOS_FIELDS and isinstance(value, int):
        return pesos_text(value)
    if name == "clasificacion":
        return CLASSIFICATION_LABELS.get(value, str(value))
    if name == "level":
        return f"Nivel {value}"
    if isinstance(value, bool):
        return "Sí" if value else "No"
    if isinstance(value, int | float):
        return number_text(value)
    return str(value)


# What a field added later (meta and indicator types, hallazgo data) holds when nobody chose
# anything: a version frozen before the field existed is not "changed" to it.
UNRECORDED_DEFAULTS: tuple[Any, ...] = (None, "", [], False, "alcanzar", "resultado")


def _unrecorded_default(old: Mapping[str, Any], name: str, value: Any) -> bool:
    return name not in old and any(value == default and type(value) is type(default)
                                   for default in UNRECORDED_DEFAULTS)


def _rows(content: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    rows = {"plan": ("plan", dict(content.get("plan", {})))}
    for section, kind in SECTIONS:
        for row in content.get(section, []):
            rows[f"{kind}:{row['id']}"] = (kind, {name: value for name, value in row.items()
                                                  if name != "id"
                                                  and name not in DERIVED_FIELDS})
    return rows


def _auto_rows(content: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """The autoevaluación summary, one row per valorado componente."""
    summary = content.get("autoevaluacion", {})
    rows = {}
    for item in summary.get("oportunidades", []):
        rows[f"componente:{item['componente_id']}"] = ("componente", {
            "clasificacion": "oportunidad", "level": item.get("level"),
            "score": item.get("score")})
    for item in summary.get("fortalezas", []):
        rows[f"componente:{item['componente_id']}"] = ("componente", {
            "clasificacion": "fortaleza", "level": item.get("level"), "score": None})
    return rows


def _compare(old_rows: Mapping[str, tuple[str, dict[str, Any]]],
             new_rows: Mapping[str, tuple[str, dict[str, Any]]], *,
             old_names: _Names, new_names: _Names, field_labels: Mapping[str, str],
             section: str) -> list[ElementChange]:
    def change(name: str, kind: str, old: Mapping[str, Any] | None,
               new: Mapping[str, Any] | None) -> FieldChange:
        before = None if old is None else old.get(name)
        after = None if new is None else new.get(name)
        return FieldChange(
            name, KIND_FIELD_LABELS.get((kind, name), field_labels.get(name, name)), before,
            after,
            EMPTY if old is None else display(kind, name, before, old, old_names),
            EMPTY if new is None else display(kind, name, after, new, new_names))

    def label(key: str, names: _Names) -> str:
        if section == "autoevaluacion":
            return names.componente(int(key.split(":")[1]))
        return names.element(key, key)

    changes = []
    for key, (kind, row) in new_rows.items():
        if key not in old_rows:
            changes.append(ElementChange("added", key, label(key, new_names), [
                change(name, kind, None, row) for name in row if _filled(row[name])],
                section))
            continue
        old = old_rows[key][1]
        fields = [change(name, kind, old, row) for name, value in row.items()
                  if old.get(name) != value and not _unrecorded_default(old, name, value)]
        if fields:
            changes.append(ElementChange("changed", key, label(key, new_names), fields,
                                         section))
    for key, (kind, row) in old_rows.items():
        if key not in new_rows:
            changes.append(ElementChange("removed", key, label(key, old_names), [
                change(name, kind, row, None) for name in row if _filled(row[name])],
                section))
    return changes


def diff(before: Mapping[str, Any], after: Mapping[str, Any], *,
         componentes: Mapping[int, str] | None = None) -> list[ElementChange]:
    """What changed from ``before`` to ``after``: first the componentes of the autoevaluación
    summary (valoración, classification, priority), then the plan element by element, in the
    newer order. ``componentes`` names componentes the summaries do not list (id → "CODE
    Name")."""
    known = _componente_names(after, before, extra=componentes)
    old_names = _Names(element_labels(before), known)
    new_names = _Names(element_labels(after), known)
    return [
        *_compare(_auto_rows(before), _auto_rows(after), old_names=old_names,
                  new_names=new_names, field_labels=AUTO_FIELD_LABELS,
                  section="autoevaluacion"),
        *_compare(_rows(before), _rows(after), old_names=old_names, new_names=new_names,
                  field_labels=FIELD_LABELS, section="pmi"),
    ]


def catalog_names(ruta: Ruta) -> dict[int, str]:
    """Every componente of the Ruta's catalog, as "CODE Name"."""
    catalog = getattr(ruta, "catalog", None)
    return {} if catalog is None else {c.id: f"{c.code} {c.name}" for c in catalog.componente_nodes}


def diff_snapshots(session: Session, ruta: Ruta, older: int,
                   newer: int) -> list[ElementChange]:
    return diff(get_snapshot(session, ruta, older).content,
                get_snapshot(session, ruta, newer).content, componentes=catalog_names(ruta))
