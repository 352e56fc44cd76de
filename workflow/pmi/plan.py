"""Formulating the Plan de Mejoramiento Institucional (PMI): the second stage of a Ruta.

From the oportunidades de mejoramiento of the autoevaluación and the weaknesses found in the
pruebas externas (Saber, Evaluar para Avanzar, others: ``fuentes``) and internal evaluations,
with their data, the school formulates objetivos; each objetivo has metas (a type, cantidad,
unidad, fecha límite, línea base), each meta its indicadores (one of result, others of process)
and actividades. The plan declares how it is communicated (divulgación) and,
optionally, its budget. Its tables live in ``workflow.pmi.models``.

The PMI is editable only while the Ruta is in ``autoevaluacion_enviada`` (formulation, also
after a return to the PMI), by the rector and by the members of the equipo de gestión. Bad
input raises ``InvalidInput`` before anything is written: values out of range, a meta whose
numbers contradict its type (``coherence``), texts meant to be read that are not a sentence by
the Ruta's rule set (``Rules.is_sentence``). Services flush, never commit.

``plan_content`` turns the stored plan into a plain dict: the input of the Circular 0488
checks (``workflow.pmi.checks``), of the snapshots and of the diffs (``workflow.pmi.versions``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow import form_tokens
from workflow.autoevaluacion.perfil import classification_for
from workflow.autoevaluacion.team import is_rector_of, member_for
from workflow.catalogo.catalog import rules_of
from workflow.errors import Forbidden, InvalidInput, NotEditable, NotFound, require_version
from workflow.models import Ruta, User, utcnow
from workflow.pmi import forms, fuentes
from workflow.pmi.forms import Form
from workflow.pmi.graph import plan_graph
from workflow.pmi.models import (
    Actividad,
    Aplazamiento,
    Fuente,
    Hallazgo,
    Indicador,
    Meta,
    Objetivo,
    PmiPlan,
)
from workflow.states import State

# The PMI is formulated in this state only; a return to the PMI reopens it.
EDITABLE_STATES = frozenset({State.AUTOEVALUACION_ENVIADA})
# What ``plan_content`` stores: 2 since metas have types and hallazgos data (``checks``
# judges older versions only by the rules that existed then).
CONTENT_FORMAT = 2


# --- who may edit -------------------------------------------------------------------------


def can_edit(session: Session, ruta: Ruta, actor: User) -> bool:
    """The rector and the members of the equipo de gestión formulate the PMI, while editable."""
    if ruta.state not in EDITABLE_STATES:
        return False
    return is_rector_of(actor, ruta) or member_for(session, ruta, actor) is not None


def require_editable(session: Session, ruta: Ruta, actor: User) -> None:
    """The actor may change the PMI now; the Ruta's row is locked until the commit."""
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
# How a stale-edit message names each kind («Otra persona guardó cambios en la actividad…»).
KIND_ARTICLES = {"hallazgo": "este hallazgo", "objetivo": "este objetivo", "meta": "esta meta",
                 "indicador": "este indicador", "actividad": "esta actividad",
                 "aplazamiento": "esta oportunidad aplazada"}
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


class ElementGone(NotFound):
    """The element being edited was deleted after the form was drawn."""

    status = 409

    def __init__(self, what: str) -> None:
        super().__init__(f"Otra persona eliminó {what} después de que usted abrió este "
                         "formulario. Sus valores siguen aquí, sin guardar: puede copiarlos o "
                         "guardarlos como un elemento nuevo.")


def find_element(session: Session, kind: str, element_id: int) -> Any:
    """The element of any Ruta with this id, or None when there is none (deleted)."""
    return session.get(MODELS[kind], element_id) if kind in MODELS else None


def get_element(session: Session, ruta: Ruta, kind: str, element_id: int) -> Any:
    """An element of this Ruta's PMI, or ``NotFound`` (also for another Ruta's elements)."""
    return _get_element(session, ruta, kind, element_id)


@dataclass(frozen=True)
class Saved:
    """What ``create_element`` did: ``element`` created now, or (``again``) the one an
    earlier post of the same form created (None when that post's result is unknown)."""

    kind: str
    element: Any
    again: bool = False


def _lock_element(session: Session, kind: str, element: Any) -> Any:
    """Reload the element under a row lock (PostgreSQL); None when it is gone."""
    model = MODELS[kind]
    return session.scalars(select(model).where(model.id == element.id).with_for_update()
                           .execution_options(populate_existing=True)).one_or_none()


def save_element(session: Session, ruta: Ruta, kind: str, element_id: int | None, form: Form,
                 *, actor: User, expected_version: int | None = None) -> Any:
    """Create (``element_id`` None) or update one element of the PMI from form values.

    All or nothing: any invalid value raises ``InvalidInput`` and nothing changes. An update
    drawn from an older version than the saved one raises ``StaleEdit`` (someone saved it
    meanwhile); an element deleted meanwhile ``NotFound``. Flushes.
    """
    require_editable(session, ruta, actor)
    if element_id is not None and find_element(session, kind, element_id) is None:
        raise ElementGone(KIND_ARTICLES[kind])
    element = _get_element(session, ruta, kind, element_id)
    if element is not None:
        # The Ruta's lock serializes the PMI's edits; this re-reads the committed version.
        if _lock_element(session, kind, element) is None:
            raise ElementGone(KIND_ARTICLES[kind])
        require_version(element.version, expected_version, KIND_ARTICLES[kind])
    parse = forms.Parser(form, ruta, element_id, rules_of(session, ruta))
    values = forms.PARSERS[kind](session, parse)
    if parse.errors:
        raise InvalidInput(parse.errors)
    if element is None:
        element = MODELS[kind](ruta_id=ruta.id, version=1)
        session.add(element)
    else:
        element.version += 1
    for name, value in values.items():
        setattr(element, name, value)
    session.flush()
    return element


def create_element(session: Session, ruta: Ruta, kind: str, form: Form, *, actor: User,
                   token: str | None) -> Saved:
    """Create one element from a form carrying a one-time ``token``: the first post creates
    it (``save_element``); a later post of the same form (back and «Guardar», a double
    click, a retry; also one racing the first) creates nothing and returns what the first
    created. Flushes."""
    require_editable(session, ruta, actor)
    earlier = form_tokens.claim(session, token, user=actor)
    if earlier is not None:
        return Saved(kind, _earlier_element(session, ruta, kind, earlier.result), again=True)
    element = save_element(session, ruta, kind, None, form, actor=actor)
    form_tokens.record(session, token, f"{kind}:{element.id}")
    return Saved(kind, element)


def _earlier_element(session: Session, ruta: Ruta, kind: str, result: str | None) -> Any:
    found_kind, _, raw = (result or "").partition(":")
    if found_kind not in MODELS or not raw.isdigit():
        return None
    found = session.get(MODELS[found_kind], int(raw))
    return found if found is not None and found.ruta_id == ruta.id else None


def general_version(session: Session, ruta: Ruta) -> int:
    """The version of the plan's «general» row; 0 while it was never saved."""
    plan = session.get(PmiPlan, ruta.id)
    return plan.version if plan else 0


def save_general(session: Session, ruta: Ruta, form: Form, *, actor: User,
                 now: datetime | None = None, expected_version: int | None = None) -> PmiPlan:
    """Save the plan's budget and divulgación. ``expected_version`` is the version the form
    was drawn from (0: never saved); another one raises ``StaleEdit``. Flushes."""
    require_editable(session, ruta, actor)
    plan = session.scalars(select(PmiPlan).where(PmiPlan.ruta_id == ruta.id).with_for_update()
                           .execution_options(populate_existing=True)).one_or_none()
    require_version(plan.version if plan else 0, expected_version,
                    "el presupuesto y la divulgación del plan")
    parse = forms.Parser(form, ruta)
    presupuesto = parse.pesos("presupuesto", "el presupuesto")
    divulgacion = parse.text("divulgacion", "cómo se divulga el plan")
    fecha = parse.date_in_horizon("divulgacion_fecha", "la fecha de divulgación")
    if parse.errors:
        raise InvalidInput(parse.errors)
    if plan is None:
        plan = PmiPlan(ruta_id=ruta.id, version=1)
        session.add(plan)
    else:
        plan.version += 1
    plan.presupuesto, plan.divulgacion, plan.divulgacion_fecha = presupuesto, divulgacion, fecha
    plan.updated_at, plan.updated_by_id = now or utcnow(), actor.id
    session.flush()
    return plan


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


def objetivos_of(session: Session, ruta: Ruta, *, fresh: bool = False) -> list[Objetivo]:
    """The plan's objetivos with their componentes, hallazgos, metas, and the metas'
    indicadores and actividades, loaded with the rest of the plan in one statement
    (``graph.plan_graph``; issue 17: each objetivo and meta loaded its own).

    ``fresh`` reads the rows and their collections again even when the session already holds
    them (``populate_existing``): a snapshot taken in the session that just deleted an
    actividad must not find it in a collection loaded before the deletion."""
    return list(plan_graph(session, ruta, fresh=fresh).objetivos)


def plan_content(session: Session, ruta: Ruta, *, fresh: bool = False) -> dict[str, Any]:
    """The whole PMI with its autoevaluación summary, as JSON-ready data, in a stable order
    (``fresh``: read afresh what the session holds, as a stored version must)."""
    graph = plan_graph(session, ruta, fresh=fresh)
    objetivos = graph.objetivos
    # Every meta hangs from an objetivo and every indicador or actividad from a meta.
    all_metas = sorted((meta for objetivo in objetivos for meta in objetivo.metas),
                       key=lambda row: row.id)
    plan = graph.general
    return {
        "formato": CONTENT_FORMAT,
        "horizon": [ruta.horizon_start_year, ruta.horizon_end_year],
        # The Ruta's pinned rule set, frozen with every snapshot so its verdicts never move.
        "rules": rules_of(session, ruta).as_dict(),
        "autoevaluacion": autoevaluacion_summary(session, ruta),
        "plan": {"presupuesto": plan.presupuesto if plan else None,
                 "divulgacion": plan.divulgacion if plan else "",
                 "divulgacion_fecha": _iso(plan.divulgacion_fecha) if plan else None},
        "aplazamientos": [{"id": row.id, "componente_id": row.componente_id,
                           "razon": row.razon} for row in graph.aplazamientos],
        "hallazgos": [_hallazgo_row(session, ruta, row) for row in graph.hallazgos],
        "objetivos": [{"id": row.id, "enunciado": row.enunciado,
                       "componentes": [c.id for c in row.componentes],
                       "hallazgos": [h.id for h in row.hallazgos],
                       "razon_fortaleza": row.razon_fortaleza} for row in objetivos],
        "metas": [{"id": row.id, "objetivo_id": row.objetivo_id, "enunciado": row.enunciado,
                   "tipo": row.tipo.value, "cantidad": row.cantidad, "unidad": row.unidad,
                   "fecha_limite": _iso(row.fecha_limite), "linea_base": row.linea_base}
                  for row in all_metas],
        "indicadores": [{"id": row.id, "meta_id": row.meta_id, "nombre": row.nombre,
                         "tipo": row.tipo.value, "binario": row.binario,
                         "formula": row.formula, "unidad": row.unidad,
                         "frecuencia": row.frecuencia, "fuente": row.fuente,
                         "linea_base": row.linea_base,
                         "metas_anuales": dict(sorted(row.metas_anuales.items()))}
                        for row in sorted((item for meta in all_metas
                                           for item in meta.indicadores),
                                          key=lambda item: item.id)],
        "actividades": [{"id": row.id, "meta_id": row.meta_id, "descripcion": row.descripcion,
                         "responsable": row.responsable, "fecha_inicio": _iso(row.fecha_inicio),
                         "fecha_fin": _iso(row.fecha_fin), "recursos": row.recursos,
                         "costo": row.costo, "fuente_financiacion": row.fuente_financiacion,
                         "trayectorias": list(row.trayectorias)}
                        for row in sorted((item for meta in all_metas
                                           for item in meta.actividades),
                                          key=lambda item: item.id)],
    }


def _hallazgo_row(session: Session, ruta: Ruta, row: Hallazgo) -> dict[str, Any]:
    source = fuentes.find(session, ruta, row.fuente)
    label = source.label if source else row.fuente
    if row.fuente == Fuente.OTRA_EXTERNA.value and row.fuente_nombre:
        label = f"{label}: {row.fuente_nombre}"
    return {"id": row.id, "fuente": row.fuente, "fuente_nombre": row.fuente_nombre,
            # Frozen beside the code, so a version reads the same if the list changes.
            "fuente_label": label, "fuente_externa": source.external if source else True,
            "area": row.area, "grado": row.grado, "descripcion": row.descripcion,
            "anio": row.anio, "valor": row.valor,
            "valor_unidad": row.valor_unidad.value if row.valor_unidad else None,
            "comparacion": row.comparacion.value if row.comparacion else None,
            "comparacion_valor": row.comparacion_valor,
            "componentes": [c.id for c in row.componentes]}


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
    # The statement ``plan_content`` sent, answered again by a GET request's read memo.
    graph = plan_graph(session, ruta)
    return PlanView(graph.general, graph.hallazgos, graph.objetivos, graph.aplazamientos,
                    content, element_labels(content))


def years_of(ruta: Ruta) -> Sequence[int]:
    return range(ruta.horizon_start_year, ruta.horizon_end_year + 1)



def objetivos_with_indicadores(session: Session, ruta: Ruta) -> list[Objetivo]:
    """The plan's objetivos with their metas and the metas' indicadores (what the final
    evaluation reads), in the plan's one statement."""
    return objetivos_of(session, ruta)


def labels_of(objetivos: Sequence[Objetivo], *, actividades: bool = True) -> dict[str, str]:
    """``element_labels`` of the numbered elements only (objetivos, metas, indicadores and,
    unless told otherwise, actividades; not the hallazgos nor the aplazamientos), from
    loaded objetivos: a page naming those does not read the whole ``plan_content``."""
    metas = sorted((meta for objetivo in objetivos for meta in objetivo.metas),
                   key=lambda row: row.id)

    def children(name: str) -> list[dict[str, int]]:
        rows = sorted((item for meta in metas for item in getattr(meta, name)),
                      key=lambda item: item.id)
        return [{"id": row.id, "meta_id": row.meta_id} for row in rows]

    return element_labels({
        "objetivos": [{"id": row.id} for row in objetivos],
        "metas": [{"id": row.id, "objetivo_id": row.objetivo_id} for row in metas],
        "indicadores": children("indicadores"),
        "actividades": children("actividades") if actividades else []})


def numbered_labels(session: Session, ruta: Ruta) -> dict[str, str]:
    """``labels_of`` the plan as ``objetivos_of`` reads it."""
    return labels_of(objetivos_of(session, ruta))
