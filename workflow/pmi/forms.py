"""Reading the PMI's element forms: one parser per kind, all errors collected at once.

Each parser turns posted form values into the column values of its element, or records a
Spanish message per field; ``workflow.pmi.plan.save_element`` raises ``InvalidInput`` with
them before anything is written. Texts meant to be read must be sentences by the Ruta's rule
set; a meta's and an indicador's numbers must agree (``coherence``); a hallazgo's source must
be on the Secretaría's list (``fuentes``) and its values within their unit's range.

The other way round, ``element_values`` and ``general_values`` are what a form shows for a
stored element, and ``SavedWords`` says a saved value in the words of the form (beside a
field after a conflict).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import Enum as PyEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from workflow.autoevaluacion.perfil import classification_for
from workflow.catalogo.catalog import Rules
from workflow.catalogo.models import CatalogComponente
from workflow.catalogo.tree import ComponenteNode
from workflow.models import Ruta
from workflow.pmi import coherence, fuentes
from workflow.pmi.models import (
    COMPARACION_LABELS,
    MAX_SHORT,
    META_TIPO_LABELS,
    Aplazamiento,
    Comparacion,
    Fuente,
    Hallazgo,
    IndicadorTipo,
    Meta,
    MetaTipo,
    Objetivo,
    Trayectoria,
    ValorUnidad,
)

MAX_TEXT = 5000


NUMBER = re.compile(r"^-?\d{1,12}([.,]\d{1,4})?$")


Form = Mapping[str, Any]


def text_of(form: Form, name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()


def _list(form: Form, name: str) -> list[str]:
    value = form.get(name, [])
    if isinstance(value, str):
        return [value] if value else []
    return [str(item) for item in value if str(item)]


class Parser:
    def __init__(self, form: Form, ruta: Ruta, element_id: int | None = None,
                 rules: Rules | None = None) -> None:
        self.form = form
        self.ruta = ruta
        self.element_id = element_id
        self.rules = rules or Rules()
        self.errors: dict[str, list[str]] = {}

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(self, name: str, label: str, *, required: bool = False,
             limit: int = MAX_TEXT) -> str:
        value = text_of(self.form, name)
        if required and not value:
            self.error(name, f"Escriba {label}.")
        elif len(value) > limit:
            self.error(name, f"{label[0].upper()}{label[1:]} no puede pasar de {limit} "
                             "caracteres.")
        return value

    def sentence(self, name: str, label: str, *, required: bool = True) -> str:
        """A text meant to be read: a sentence by the rule set's minimum length."""
        value = self.text(name, label, required=required)
        if value and name not in self.errors and not self.rules.is_sentence(value):
            self.error(name, f"Escriba {label} en una frase que se pueda leer: "
                             f"{self.rules.sentence_label}.")
        return value

    def year(self, name: str, label: str) -> int | None:
        raw = text_of(self.form, name)
        if not raw:
            return None
        if not (raw.isdigit() and len(raw) == 4):
            self.error(name, f"{label[0].upper()}{label[1:]} debe ser un año de cuatro cifras "
                             "(por ejemplo, 2023).")
            return None
        return int(raw)

    def optional_choice(self, name: str, label: str, enum: type[PyEnum]) -> Any:
        return self.choice(name, label, enum) if text_of(self.form, name) else None

    def number(self, name: str, label: str, *, required: bool = False) -> float | None:
        raw = text_of(self.form, name).replace(" ", "").removesuffix("%")
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
        raw = text_of(self.form, name).replace("$", "").replace(" ", "").replace(".", "")
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
        raw = text_of(self.form, name)
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
        raw = text_of(self.form, name)
        try:
            return enum(raw)
        except ValueError:
            self.error(name, f"Elija {label}.")
            return None

    def element(self, session: Session, name: str, model: type[Any], label: str) -> Any:
        raw = text_of(self.form, name)
        found = session.get(model, int(raw)) if raw.isdigit() and len(raw) < 10 else None
        if found is None or found.ruta_id != self.ruta.id:
            self.error(name, f"Elija {label} de este PMI.")
            return None
        return found


def catalog_componentes(ruta: Ruta) -> dict[int, ComponenteNode]:
    catalog = getattr(ruta, "catalog", None)
    return {c.id: c for c in catalog.componente_nodes} if catalog is not None else {}


def _componentes_field(parse: Parser, name: str) -> list[CatalogComponente]:
    """The chosen componentes of the Ruta's catalog, as rows (an element links to rows; the
    catalog's cached tree only says which ids are of this Ruta)."""
    componentes = catalog_componentes(parse.ruta)
    chosen = []
    for raw in dict.fromkeys(_list(parse.form, name)):
        componente = componentes.get(int(raw)) if raw.isdigit() and len(raw) < 10 else None
        if componente is None:
            parse.error(name, "Uno de los componentes elegidos no es del instrumento de esta "
                              "Ruta.")
            continue
        chosen.append(componente.id)
    session = object_session(parse.ruta)
    if not chosen or session is None:
        return []
    rows = {row.id: row for row in session.scalars(
        select(CatalogComponente).where(CatalogComponente.id.in_(chosen)))}
    return [rows[componente_id] for componente_id in chosen]


def _hallazgo(session: Session, parse: Parser) -> dict[str, Any]:
    code = text_of(parse.form, "fuente")
    fuente = fuentes.find(session, parse.ruta, code) if code else None
    if fuente is None:
        parse.error("fuente", "Elija la fuente del hallazgo de la lista (prueba Saber, Evaluar "
                              "para Avanzar, evaluación interna u otra)." if not code else
                    f"La fuente «{code[:40]}» no está en la lista de fuentes de la Secretaría.")
    nombre = parse.text("fuente_nombre", "el nombre de la prueba", limit=MAX_SHORT)
    if code == Fuente.OTRA_EXTERNA.value and not nombre:
        parse.error("fuente_nombre", "Escriba el nombre de la otra prueba externa.")
    values = {
        "fuente": code, "fuente_nombre": nombre if code == Fuente.OTRA_EXTERNA.value else "",
        "area": parse.text("area", "el área o la competencia evaluada", required=True,
                           limit=MAX_SHORT),
        "grado": parse.text("grado", "el grado", limit=80),
        "descripcion": parse.sentence("descripcion", "qué se encontró"),
        "anio": parse.year("anio", "el año del resultado"),
        "valor": parse.number("valor", "el valor del resultado"),
        "valor_unidad": parse.optional_choice("valor_unidad", "la unidad del valor",
                                              ValorUnidad),
        "comparacion": parse.optional_choice("comparacion", "con qué se compara",
                                             Comparacion),
        "comparacion_valor": parse.number("comparacion_valor", "el valor de comparación"),
        "componentes": _componentes_field(parse, "componentes"),
    }
    if (values["valor"] is None) != (values["valor_unidad"] is None) \
            and not {"valor", "valor_unidad"} & parse.errors.keys():
        parse.error("valor_unidad" if values["valor_unidad"] is None else "valor",
                    "Escriba el valor junto con su unidad (porcentaje, puntaje, nivel).")
    if (values["comparacion"] is None) != (values["comparacion_valor"] is None) \
            and not {"comparacion", "comparacion_valor"} & parse.errors.keys():
        parse.error("comparacion_valor" if values["comparacion"] else "comparacion",
                    "Escriba con qué se compara el resultado junto con el valor de esa "
                    "comparación.")
    plain = {**values, "valor_unidad": values["valor_unidad"] and values["valor_unidad"].value}
    for name, message in coherence.hallazgo_value_problems(plain, parse.ruta.horizon_end_year):
        parse.error(name, message)
    return values


def _objetivo(session: Session, parse: Parser) -> dict[str, Any]:
    chosen = _componentes_field(parse, "componentes")
    hallazgos = []
    for raw in dict.fromkeys(_list(parse.form, "hallazgos")):
        found = session.get(Hallazgo, int(raw)) if raw.isdigit() and len(raw) < 10 else None
        if found is None or found.ruta_id != parse.ruta.id:
            parse.error("hallazgos", "Uno de los hallazgos elegidos no es de este PMI.")
            continue
        hallazgos.append(found)
    fortalezas = {item.componente_id: item.code
                  for item in classification_for(session, parse.ruta).fortalezas}
    linked = [fortalezas[c.id] for c in chosen if c.id in fortalezas]
    razon = parse.sentence("razon_fortaleza", "por qué el objetivo trabaja sobre "
                           + ("la fortaleza " + ", ".join(linked) if linked else "fortalezas"),
                           required=bool(linked))
    return {"enunciado": parse.sentence("enunciado", "el objetivo"),
            "componentes": chosen, "hallazgos": hallazgos, "razon_fortaleza": razon}


def _meta(session: Session, parse: Parser) -> dict[str, Any]:
    objetivo = parse.element(session, "objetivo_id", Objetivo, "el objetivo de la meta")
    # A form without a type (older clients) means «alcanzar un valor», as migrated metas.
    # «tipo» names the element kind in the form; the meta's type is «tipo_meta».
    tipo = (parse.choice("tipo_meta", "el tipo de meta", MetaTipo)
            if text_of(parse.form, "tipo_meta") else MetaTipo.ALCANZAR)
    values = {
        "objetivo_id": objetivo.id if objetivo else None,
        "enunciado": parse.sentence("enunciado", "la meta"),
        "tipo": tipo,
        "cantidad": parse.number("cantidad", "la cantidad de la meta", required=True),
        "unidad": parse.text("unidad", "la unidad de medida de la meta", required=True,
                             limit=120),
        "fecha_limite": parse.date_in_horizon("fecha_limite", "la fecha límite de la meta",
                                              required=True),
        "linea_base": parse.number("linea_base", "la línea base"),
    }
    if tipo is not None and not parse.errors:
        for name, message in coherence.meta_problems({**values, "tipo": tipo.value}):
            parse.error("tipo_meta" if name == "tipo" else name, message)
    return values


def _indicador(session: Session, parse: Parser) -> dict[str, Any]:
    meta = parse.element(session, "meta_id", Meta, "la meta que mide el indicador")
    tipo = (parse.choice("tipo_indicador", "el tipo de indicador", IndicadorTipo)
            if text_of(parse.form, "tipo_indicador") else IndicadorTipo.RESULTADO)
    binario = text_of(parse.form, "binario") in {"1", "on", "si", "sí", "true"}
    targets: dict[str, float] = {}
    for year in range(parse.ruta.horizon_start_year, parse.ruta.horizon_end_year + 1):
        value = parse.number(f"meta_{year}", f"la meta del indicador para {year}")
        if value is not None:
            targets[str(year)] = value
    values = {
        "meta_id": meta.id if meta else None,
        "tipo": tipo, "binario": binario,
        "nombre": parse.text("nombre", "el nombre del indicador", required=True,
                             limit=MAX_SHORT),
        "formula": parse.text("formula", "la fórmula del indicador", required=True),
        "unidad": (parse.text("unidad", "la unidad del indicador", limit=120) or "sí/no"
                   if binario else
                   parse.text("unidad", "la unidad del indicador", required=True, limit=120)),
        "frecuencia": parse.text("frecuencia", "la frecuencia de medición", limit=120),
        "fuente": parse.text("fuente", "la fuente de información", limit=MAX_SHORT),
        "linea_base": parse.number("linea_base", "la línea base"),
        "metas_anuales": targets,
    }
    for name, message in coherence.indicator_value_problems(values):
        parse.error(name, message)
    return values


def _actividad(session: Session, parse: Parser) -> dict[str, Any]:
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
        "descripcion": parse.sentence("descripcion", "la actividad"),
        "responsable": parse.text("responsable", "el responsable", limit=MAX_SHORT),
        "fecha_inicio": inicio, "fecha_fin": fin,
        "recursos": parse.text("recursos", "los recursos"),
        "costo": parse.pesos("costo", "el costo estimado"),
        "fuente_financiacion": parse.text("fuente_financiacion", "la fuente de financiación",
                                          limit=MAX_SHORT),
        "trayectorias": trayectorias,
    }


def _aplazamiento(session: Session, parse: Parser) -> dict[str, Any]:
    raw = text_of(parse.form, "componente_id")
    componente = catalog_componentes(parse.ruta).get(int(raw)) \
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
            "razon": parse.sentence("razon", "por qué se aplaza")}


PARSERS = {"hallazgo": _hallazgo, "objetivo": _objetivo, "meta": _meta,
           "indicador": _indicador, "actividad": _actividad, "aplazamiento": _aplazamiento}


# --- what the forms show ------------------------------------------------------------------


def general_values(general: Any) -> dict[str, Any]:
    """The «general» form's fields as saved (empty while never saved)."""
    if general is None:
        return {"presupuesto": "", "divulgacion": "", "divulgacion_fecha": ""}
    return {"presupuesto": "" if general.presupuesto is None else str(general.presupuesto),
            "divulgacion": general.divulgacion,
            "divulgacion_fecha": (general.divulgacion_fecha.isoformat()
                                  if general.divulgacion_fecha else "")}


def element_values(kind: str, element: Any) -> dict[str, Any]:
    """What the form shows for a stored element."""
    if element is None:
        return {}
    values: dict[str, Any] = {}
    for column in element.__table__.columns:
        value = getattr(element, column.name)
        values[column.name] = value.value if hasattr(value, "value") else value
    if kind in ("objetivo", "hallazgo"):
        values["componentes"] = [str(c.id) for c in element.componentes]
    if kind == "objetivo":
        values["hallazgos"] = [str(h.id) for h in element.hallazgos]
    if kind in ("meta", "indicador"):
        values[f"tipo_{kind}"] = element.tipo.value
    if kind == "indicador":
        values["binario"] = "1" if element.binario else ""
        values.update({f"meta_{year}": target
                       for year, target in element.metas_anuales.items()})
    for name in ("cantidad", "linea_base", *values):
        if isinstance(values.get(name), float):
            values[name] = f"{values[name]:g}".replace(".", ",")
    for name in ("fecha_limite", "fecha_inicio", "fecha_fin"):
        if values.get(name) is not None:
            values[name] = values[name].isoformat()
    if kind == "actividad":
        values["trayectorias"] = list(element.trayectorias)
    return {name: ("" if value is None else value) for name, value in values.items()}


# Fields of the saved element that the form does not edit (never «changed» in a conflict).
NOT_IN_FORM = frozenset({"id", "ruta_id", "created_at", "version", "tipo"})


# The choices of the element forms' selects, value → label.
CHOICE_LABELS: dict[str, dict[str, str]] = {
    "tipo_meta": {item.value: label for item, label in META_TIPO_LABELS.items()},
    "valor_unidad": {item.value: item.label for item in ValorUnidad},
    "comparacion": {item.value: label for item, label in COMPARACION_LABELS.items()},
    "tipo_indicador": {item.value: item.label for item in IndicadorTipo},
}


@dataclass(frozen=True)
class SavedWords:
    """Saved values as the person reads them in the form: labels, not ids or codes."""

    labels: dict[str, str]
    componentes: dict[str, str]
    fuentes: dict[str, str]

    def shown(self, name: str, value: Any) -> Any:
        if name in ("objetivo_id", "meta_id") and value != "":
            return self.labels.get(f"{name.removesuffix('_id')}:{value}", value)
        if name == "hallazgos":
            return ", ".join(self.labels.get(f"hallazgo:{item}", str(item)) for item in value)
        if name in ("componentes", "componente_id"):
            items = value if isinstance(value, list) else [value]
            return ", ".join(self.componentes.get(str(item), str(item))
                             for item in items if item != "")
        if name == "trayectorias":
            return ", ".join(Trayectoria(item).label for item in value)
        if name == "binario":
            return "Sí" if value else "No"
        if name in CHOICE_LABELS:
            return CHOICE_LABELS[name].get(value, value)
        if name == "fuente":
            return self.fuentes.get(value, value)
        return value
