"""Formulating the Plan de Mejoramiento Institucional (PMI): the second stage of a Ruta.

From the oportunidades de mejoramiento of the autoevaluación and the weaknesses found in the
pruebas externas (Saber 3.°, 5.°, 9.°, 11.°) and internal evaluations, the school formulates
objetivos; each objetivo has metas (cantidad, unidad, fecha límite, línea base), each meta its
indicadores and actividades. The plan declares how it is communicated (divulgación) and,
optionally, its budget. Its tables live in ``workflow.pmi.models``.

The PMI is editable only while the Ruta is in ``autoevaluacion_enviada`` (formulation, also
after a return to the PMI), by the rector and by the members of the equipo de gestión. Bad
input raises ``InvalidInput`` before anything is written. Services flush, never commit.

``plan_content`` turns the stored plan into a plain dict: the input of the Circular 0488
checks (``workflow.pmi.checks``), of the snapshots and of the diffs (``workflow.pmi.versions``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum as PyEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.autoevaluacion.perfil import classification_for
from workflow.autoevaluacion.team import is_rector_of, member_for
from workflow.catalogo.catalog import rules_of
from workflow.catalogo.models import CatalogComponente
from workflow.errors import Forbidden, InvalidInput, NotEditable, NotFound
from workflow.models import Ruta, User, utcnow
from workflow.pmi.models import (
    MAX_SHORT,
    Actividad,
    Aplazamiento,
    Fuente,
    Hallazgo,
    Indicador,
    Meta,
    Objetivo,
    PmiPlan,
    Trayectoria,
)
from workflow.states import State

MAX_TEXT = 5000
# The PMI is formulated in this state only; a return to the PMI reopens it.
EDITABLE_STATES = frozenset({State.AUTOEVALUACION_ENVIADA})
# How many of the top-priority oportunidades must be addressed or explicitly deferred.
TOP_PRIORITY = 3


# --- who may edit -------------------------------------------------------------------------


def can_edit(session: Session, ruta: Ruta, actor: User) -> bool:
    """The rector and the members of the equipo de gestión formulate the PMI, while editable."""
    if ruta.state not in EDITABLE_STATES:
        return False
    return is_rector_of(actor, ruta) or member_for(session, ruta, actor) is not None


def _require_editable(session: Session, ruta: Ruta, actor: User) -> None:
    if not (is_rector_of(actor, ruta) or member_for(session, ruta, actor)):
        raise Forbidden("El PMI lo formulan el rector o la rectora y el equipo de gestión de "
                        "la institución.")
    # Locked, so an edit and the submission of the PMI cannot interleave (PostgreSQL).
    session.scalars(select(Ruta).where(Ruta.id == ruta.id).with_for_update()
                    .execution_options(populate_existing=True)).one()
    if ruta.state not in EDITABLE_STATES:
        raise NotEditable(f"El PMI no se puede modificar mientras la Ruta está en "
                          f"«{ruta.state.label}». Solo se formula con la autoevaluación "
                          "enviada, o cuando la Secretaría lo devuelve al PMI.")


# --- parsing form values ------------------------------------------------------------------

ELEMENT_KINDS = ("hallazgo", "objetivo", "meta", "indicador", "actividad", "aplazamiento")
KIND_LABELS = {"hallazgo": "Hallazgo", "objetivo": "Objetivo", "meta": "Meta",
               "indicador": "Indicador", "actividad": "Actividad",
               "aplazamiento": "Oportunidad aplazada", "plan": "El plan en general"}
MODELS: dict[str, type[Any]] = {"hallazgo": Hallazgo, "objetivo": Objetivo, "meta": Meta,
                                "indicador": Indicador, "actividad": Actividad,
                                "aplazamiento": Aplazamiento}
NUMBER = re.compile(r"^-?\d{1,12}([.,]\d{1,4})?$")


Form = Mapping[str, Any]


def _text(form: Form, name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()


def _list(form: Form, name: str) -> list[str]:
    value = form.get(name, [])
    if isinstance(value, str):
        return [value] if value else []
    return [str(item) for item in value if str(item)]


class _Parser:
    def __init__(self, form: Form, ruta: Ruta, element_id: int | None = None) -> None:
        self.form = form
        self.ruta = ruta
        self.element_id = element_id
        self.errors: dict[str, list[str]] = {}

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(self, name: str, label: str, *, required: bool = False,
             limit: int = MAX_TEXT) -> str:
        value = _text(self.form, name)
        if required and not value:
            self.error(name, f"Escriba {label}.")
        elif len(value) > limit:
            self.error(name, f"{label[0].upper()}{label[1:]} no puede pasar de {limit} "
                             "caracteres.")
        return value

    def number(self, name: str, label: str, *, required: bool = False) -> float | None:
        raw = _text(self.form, name).replace(" ", "").removesuffix("%")
        if not raw:
            if required:
                self.error(name, f"Escriba {label}: un número (por ejemplo, 60 o 12,5).")
            return None
        if not NUMBER.match(raw):
            self.error(name, f"{label[0].upper()}{label[1:]} debe ser un número (por ejemplo, "
                             "60 o 12,5).")
            return None
        value = float(raw.replace(",", "."))
        if value < 0:
            self.error(name, f"{label[0].upper()}{label[1:]} no puede ser negativa.")
            return None
        return value

    def pesos(self, name: str, label: str) -> int | None:
        raw = _text(self.form, name).replace("$", "").replace(" ", "").replace(".", "")
        if not raw:
            return None
        if raw.startswith("-") and raw[1:].isdigit():
            self.error(name, f"{label[0].upper()}{label[1:]} no puede ser negativo.")
            return None
        if not raw.isdigit() or len(raw) > 15:
            self.error(name, f"{label[0].upper()}{label[1:]} debe ser un valor en pesos, sin "
                             "decimales (por ejemplo, 2500000).")
            return None
        return int(raw)

    def date_in_horizon(self, name: str, label: str, *, required: bool = False) -> date | None:
        raw = _text(self.form, name)
        if not raw:
            if required:
                self.error(name, f"Indique {label}.")
            return None
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            self.error(name, f"{label[0].upper()}{label[1:]} no es una fecha válida "
                             "(AAAA-MM-DD).")
            return None
        start, end = self.ruta.horizon_start_year, self.ruta.horizon_end_year
        if not start <= value.year <= end:
            self.error(name, f"{label[0].upper()}{label[1:]} ({value.isoformat()}) queda fuera "
                             f"del horizonte del plan ({start}–{end}).")
            return None
        return value

    def choice(self, name: str, label: str, enum: type[PyEnum]) -> Any:
        raw = _text(self.form, name)
        try:
            return enum(raw)
        except ValueError:
            self.error(name, f"Elija {label}.")
            return None

    def element(self, session: Session, name: str, model: type[Any], label: str) -> Any:
        raw = _text(self.form, name)
        found = session.get(model, int(raw)) if raw.isdigit() and len(raw) < 10 else None
        if found is None or found.ruta_id != self.ruta.id:
            self.error(name, f"Elija {label} de este PMI.")
            return None
        return found


def _catalog_componentes(ruta: Ruta) -> dict[int, CatalogComponente]:
    catalog = getattr(ruta, "catalog", None)
    return {c.id: c for c in catalog.componentes} if catalog is not None else {}


# --- services -----------------------------------------------------------------------------


def _get_element(session: Session, ruta: Ruta, kind: str, element_id: int | None) -> Any:
    if kind not in MODELS:
        raise NotFound("No encontramos ese elemento del PMI.")
    if element_id is None:
        return None
    found = session.get(MODELS[kind], element_id)
    if found is None or found.ruta_id != ruta.id:
        raise NotFound("No encontramos ese elemento del PMI.")
    return found


def get_element(session: Session, ruta: Ruta, kind: str, element_id: int) -> Any:
    """An element of this Ruta's PMI, or ``NotFound`` (also for another Ruta's elements)."""
    return _get_element(session, ruta, kind, element_id)


def save_element(session: Session, ruta: Ruta, kind: str, element_id: int | None, form: Form,
                 *, actor: User) -> Any:
    """Create (``element_id`` None) or update one element of the PMI from form values.

    All or nothing: any invalid value raises ``InvalidInput`` and nothing changes. Flushes.
    """
    _require_editable(session, ruta, actor)
    element = _get_element(session, ruta, kind, element_id)
    parse = _Parser(form, ruta, element_id)
    values = PARSERS[kind](session, parse)
    if parse.errors:
        raise InvalidInput(parse.errors)
    if element is None:
        element = MODELS[kind](ruta_id=ruta.id)
        session.add(element)
    for name, value in values.items():
        setattr(element, name, value)
    session.flush()
    return element


def delete_element(session: Session, ruta: Ruta, kind: str, element_id: int, *,
                   actor: User) -> str:
    """Delete one element (an objetivo takes its metas, a meta its indicadores and
    actividades with it). Returns the element's label. Flushes."""
    _require_editable(session, ruta, actor)
    element = _get_element(session, ruta, kind, element_id)
    label = element_labels(plan_content(session, ruta)).get(f"{kind}:{element_id}",
                                                               KIND_LABELS[kind])
    session.delete(element)
    session.flush()
    return label


def save_general(session: Session, ruta: Ruta, form: Form, *, actor: User,
                 now: datetime | None = None) -> PmiPlan:
    """Save the plan's budget and divulgación. Flushes."""
    _require_editable(session, ruta, actor)
    parse = _Parser(form, ruta)
    presupuesto = parse.pesos("presupuesto", "el presupuesto")
    divulgacion = parse.text("divulgacion", "cómo se divulga el plan")
    fecha = parse.date_in_horizon("divulgacion_fecha", "la fecha de divulgación")
    if parse.errors:
        raise InvalidInput(parse.errors)
    plan = session.get(PmiPlan, ruta.id) or PmiPlan(ruta_id=ruta.id)
    session.add(plan)
    plan.presupuesto, plan.divulgacion, plan.divulgacion_fecha = presupuesto, divulgacion, fecha
    plan.updated_at, plan.updated_by_id = now or utcnow(), actor.id
    session.flush()
    return plan


def _hallazgo(session: Session, parse: _Parser) -> dict[str, Any]:
    return {
        "fuente": parse.choice("fuente", "la fuente del hallazgo (prueba Saber o evaluación "
                                         "interna)", Fuente),
        "area": parse.text("area", "el área evaluada", required=True, limit=MAX_SHORT),
        "grado": parse.text("grado", "el grado", limit=80),
        "descripcion": parse.text("descripcion", "qué se encontró", required=True),
    }


def _objetivo(session: Session, parse: _Parser) -> dict[str, Any]:
    componentes = _catalog_componentes(parse.ruta)
    chosen = []
    for raw in dict.fromkeys(_list(parse.form, "componentes")):
        componente = componentes.get(int(raw)) if raw.isdigit() and len(raw) < 10 else None
        if componente is None:
            parse.error("componentes", "Una de las oportunidades elegidas no es del "
                                       "instrumento de esta Ruta.")
            continue
        chosen.append(componente)
    hallazgos = []
    for raw in dict.fromkeys(_list(parse.form, "hallazgos")):
        found = session.get(Hallazgo, int(raw)) if raw.isdigit() and len(raw) < 10 else None
        if found is None or found.ruta_id != parse.ruta.id:
            parse.error("hallazgos", "Uno de los hallazgos elegidos no es de este PMI.")
            continue
        hallazgos.append(found)
    return {"enunciado": parse.text("enunciado", "el objetivo", required=True),
            "componentes": chosen, "hallazgos": hallazgos}


def _meta(session: Session, parse: _Parser) -> dict[str, Any]:
    objetivo = parse.element(session, "objetivo_id", Objetivo, "el objetivo de la meta")
    return {
        "objetivo_id": objetivo.id if objetivo else None,
        "enunciado": parse.text("enunciado", "la meta", required=True),
        "cantidad": parse.number("cantidad", "la cantidad de la meta", required=True),
        "unidad": parse.text("unidad", "la unidad de medida de la meta", required=True,
                             limit=120),
        "fecha_limite": parse.date_in_horizon("fecha_limite", "la fecha límite de la meta",
                                              required=True),
        "linea_base": parse.number("linea_base", "la línea base"),
    }


def _indicador(session: Session, parse: _Parser) -> dict[str, Any]:
    meta = parse.element(session, "meta_id", Meta, "la meta que mide el indicador")
    targets: dict[str, float] = {}
    for year in range(parse.ruta.horizon_start_year, parse.ruta.horizon_end_year + 1):
        value = parse.number(f"meta_{year}", f"la meta del indicador para {year}")
        if value is not None:
            targets[str(year)] = value
    return {
        "meta_id": meta.id if meta else None,
        "nombre": parse.text("nombre", "el nombre del indicador", required=True,
                             limit=MAX_SHORT),
        "formula": parse.text("formula", "la fórmula del indicador", required=True),
        "unidad": parse.text("unidad", "la unidad del indicador", required=True, limit=120),
        "frecuencia": parse.text("frecuencia", "la frecuencia de medición", limit=120),
        "fuente": parse.text("fuente", "la fuente de información", limit=MAX_SHORT),
        "linea_base": parse.number("linea_base", "la línea base"),
        "metas_anuales": targets,
    }


def _actividad(session: Session, parse: _Parser) -> dict[str, Any]:
    meta = parse.element(session, "meta_id", Meta, "la meta a la que aporta la actividad")
    inicio = parse.date_in_horizon("fecha_inicio", "la fecha de inicio")
    fin = parse.date_in_horizon("fecha_fin", "la fecha de terminación")
    if inicio and fin and fin < inicio:
        parse.error("fecha_fin", "La fecha de terminación es anterior a la de inicio.")
    trayectorias = []
    for raw in dict.fromkeys(_list(parse.form, "trayectorias")):
        if raw not in {item.value for item in Trayectoria}:
            parse.error("trayectorias", "Una de las trayectorias elegidas no existe.")
            continue
        trayectorias.append(raw)
    return {
        "meta_id": meta.id if meta else None,
        "descripcion": parse.text("descripcion", "la actividad", required=True),
        "responsable": parse.text("responsable", "el responsable", limit=MAX_SHORT),
        "fecha_inicio": inicio, "fecha_fin": fin,
        "recursos": parse.text("recursos", "los recursos"),
        "costo": parse.pesos("costo", "el costo estimado"),
        "fuente_financiacion": parse.text("fuente_financiacion", "la fuente de financiación",
                                          limit=MAX_SHORT),
        "trayectorias": trayectorias,
    }


def _aplazamiento(session: Session, parse: _Parser) -> dict[str, Any]:
    raw = _text(parse.form, "componente_id")
    componente = _catalog_componentes(parse.ruta).get(int(raw)) \
        if raw.isdigit() and len(raw) < 10 else None
    if componente is None:
        parse.error("componente_id", "Elija una oportunidad de mejoramiento de esta Ruta.")
    else:
        existing = session.scalar(select(Aplazamiento).where(
            Aplazamiento.ruta_id == parse.ruta.id,
            Aplazamiento.componente_id == componente.id))
        if existing is not None and existing.id != parse.element_id:
            parse.error("componente_id", f"«{componente.code}» ya está aplazada.")
    return {"componente_id": componente.id if componente else None,
            "razon": parse.text("razon", "por qué se aplaza", required=True)}


PARSERS = {"hallazgo": _hallazgo, "objetivo": _objetivo, "meta": _meta,
           "indicador": _indicador, "actividad": _actividad, "aplazamiento": _aplazamiento}


# --- the plan as plain data ---------------------------------------------------------------


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def autoevaluacion_summary(session: Session, ruta: Ruta) -> dict[str, Any]:
    """What the PMI answers to: the oportunidades (priority order) and the fortalezas."""
    classification = classification_for(session, ruta)
    return {
        "oportunidades": [
            {"componente_id": o.item.componente_id, "code": o.item.code, "name": o.item.name,
             "area": o.item.area_name, "level": o.item.level, "score": o.score}
            for o in classification.oportunidades],
        "fortalezas": [{"componente_id": item.componente_id, "code": item.code,
                        "name": item.name, "area": item.area_name, "level": item.level}
                       for item in classification.fortalezas],
    }


def plan_content(session: Session, ruta: Ruta) -> dict[str, Any]:
    """The whole PMI with its autoevaluación summary, as JSON-ready data, in a stable order."""
    def rows(model: type[Any]) -> list[Any]:
        return list(session.scalars(select(model).where(model.ruta_id == ruta.id)
                                    .order_by(model.id)))

    plan = session.get(PmiPlan, ruta.id)
    return {
        "horizon": [ruta.horizon_start_year, ruta.horizon_end_year],
        # The Ruta's pinned rule set, frozen with every snapshot so its verdicts never move.
        "rules": rules_of(session, ruta).as_dict(),
        "autoevaluacion": autoevaluacion_summary(session, ruta),
        "plan": {"presupuesto": plan.presupuesto if plan else None,
                 "divulgacion": plan.divulgacion if plan else "",
                 "divulgacion_fecha": _iso(plan.divulgacion_fecha) if plan else None},
        "aplazamientos": [{"id": row.id, "componente_id": row.componente_id,
                           "razon": row.razon} for row in rows(Aplazamiento)],
        "hallazgos": [{"id": row.id, "fuente": row.fuente.value, "area": row.area,
                       "grado": row.grado, "descripcion": row.descripcion}
                      for row in rows(Hallazgo)],
        "objetivos": [{"id": row.id, "enunciado": row.enunciado,
                       "componentes": [c.id for c in row.componentes],
                       "hallazgos": [h.id for h in row.hallazgos]} for row in rows(Objetivo)],
        "metas": [{"id": row.id, "objetivo_id": row.objetivo_id, "enunciado": row.enunciado,
                   "cantidad": row.cantidad, "unidad": row.unidad,
                   "fecha_limite": _iso(row.fecha_limite), "linea_base": row.linea_base}
                  for row in rows(Meta)],
        "indicadores": [{"id": row.id, "meta_id": row.meta_id, "nombre": row.nombre,
                         "formula": row.formula, "unidad": row.unidad,
                         "frecuencia": row.frecuencia, "fuente": row.fuente,
                         "linea_base": row.linea_base,
                         "metas_anuales": dict(sorted(row.metas_anuales.items()))}
                        for row in rows(Indicador)],
        "actividades": [{"id": row.id, "meta_id": row.meta_id, "descripcion": row.descripcion,
                         "responsable": row.responsable, "fecha_inicio": _iso(row.fecha_inicio),
                         "fecha_fin": _iso(row.fecha_fin), "recursos": row.recursos,
                         "costo": row.costo, "fuente_financiacion": row.fuente_financiacion,
                         "trayectorias": list(row.trayectorias)}
                        for row in rows(Actividad)],
    }


def element_labels(content: Mapping[str, Any]) -> dict[str, str]:
    """Short, numbered names for every element: "Objetivo 2", "Meta 2.1", "Indicador 2.1.1"."""
    labels = {"plan": KIND_LABELS["plan"]}
    for number, row in enumerate(content.get("hallazgos", []), 1):
        labels[f"hallazgo:{row['id']}"] = f"Hallazgo {number}"
    codes = {o["componente_id"]: o["code"]
             for o in content.get("autoevaluacion", {}).get("oportunidades", [])}
    for row in content.get("aplazamientos", []):
        code = codes.get(row["componente_id"], str(row["componente_id"]))
        labels[f"aplazamiento:{row['id']}"] = f"Oportunidad aplazada {code}"
    objetivo_numbers = {}
    for number, row in enumerate(content.get("objetivos", []), 1):
        objetivo_numbers[row["id"]] = str(number)
        labels[f"objetivo:{row['id']}"] = f"Objetivo {number}"
    meta_numbers: dict[int, str] = {}
    counters: dict[Any, int] = {}
    for row in content.get("metas", []):
        parent = objetivo_numbers.get(row["objetivo_id"], "?")
        counters[("meta", parent)] = counters.get(("meta", parent), 0) + 1
        meta_numbers[row["id"]] = f"{parent}.{counters[('meta', parent)]}"
        labels[f"meta:{row['id']}"] = f"Meta {meta_numbers[row['id']]}"
    for rows, kind in (("indicadores", "indicador"), ("actividades", "actividad")):
        for row in content.get(rows, []):
            parent = meta_numbers.get(row["meta_id"], "?")
            counters[(kind, parent)] = counters.get((kind, parent), 0) + 1
            labels[f"{kind}:{row['id']}"] = (
                f"{KIND_LABELS[kind]} {parent}.{counters[(kind, parent)]}")
    return labels


@dataclass(frozen=True)
class PlanView:
    """The stored plan, loaded for a page."""

    general: PmiPlan | None
    hallazgos: list[Hallazgo]
    objetivos: list[Objetivo]
    aplazamientos: list[Aplazamiento]
    content: dict[str, Any]
    labels: dict[str, str]

    @property
    def is_empty(self) -> bool:
        return not (self.hallazgos or self.objetivos)


def load_plan(session: Session, ruta: Ruta) -> PlanView:
    content = plan_content(session, ruta)

    def rows(model: type[Any]) -> list[Any]:
        return list(session.scalars(select(model).where(model.ruta_id == ruta.id)
                                    .order_by(model.id)))

    return PlanView(session.get(PmiPlan, ruta.id), rows(Hallazgo), rows(Objetivo),
                    rows(Aplazamiento), content, element_labels(content))


def years_of(ruta: Ruta) -> Sequence[int]:
    return range(ruta.horizon_start_year, ruta.horizon_end_year + 1)
