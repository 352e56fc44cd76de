"""Proposing an adjustment: opening it and writing its changes, each with its justification.

Who: the rector and the members of the equipo de gestión (the PMI's own editors,
``workflow.pmi.plan.can_edit``'s people), only while the Ruta is in «Seguimiento periódico»
and the adjustment is in preparation or returned. Only the rector sends it (``actions``).

A change targets one meta, indicador or actividad of the plan as it stands (the approved
plan plus earlier approved adjustments):

- **change**: the element's new values, posted with the PMI's own form fields and validated
  by the PMI's own parsers (``workflow.pmi.forms.PARSERS``), so an adjusted meta obeys the
  same rules as a formulated one;
- **add**: a new element (under an existing meta or objetivo of the plan);
- **remove**: refused when seguimiento reports already speak of it (a meta whose actividades
  or indicadores have report lines, an actividad or indicador with lines or values): the
  message names the element and the reports, and nothing is saved.

Every change needs a justification (Spanish message otherwise; a CHECK in the database too).
Bad input raises ``InvalidInput`` before anything is written. Creation is idempotent
(``form_tokens``); editing a change is versioned (``StaleEdit``). Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from workflow import form_tokens, scope_versions
from workflow.ajustes.machine import EDITABLE_STATES, OPEN_STATES, AdjustmentState
from workflow.ajustes.models import (
    ELEMENT_KINDS,
    PROPOSED,
    AdjustmentChange,
    AdjustmentEvent,
    ChangeKind,
    PlanAdjustment,
)
from workflow.autoevaluacion.team import is_rector_of, member_for
from workflow.catalogo.catalog import rules_of
from workflow.cierre.models import IndicatorResult, MetaResult
from workflow.errors import Forbidden, InvalidInput, NotEditable, NotFound, require_version
from workflow.guards import lock_ruta
from workflow.horizontes.calendar import fecha_corta
from workflow.json_rows import attach
from workflow.memo import Memo
from workflow.models import Ruta, School, User, utcnow
from workflow.pmi import forms
from workflow.pmi.models import Actividad, Indicador, Meta, PmiSnapshot
from workflow.pmi.plan import element_labels, plan_content
from workflow.ruta_rows import rows_of
from workflow.scope_versions import cached
from workflow.scoping import scoped
from workflow.seguimiento.models import FollowUpLine, FollowUpReport, IndicatorValue
from workflow.states import State

MODELS: Mapping[str, type[Any]] = {"meta": Meta, "indicador": Indicador,
                                   "actividad": Actividad}
MAX_JUSTIFICATION = 5000
#: The PMI form's fields an adjustment posts per kind (the years of an indicador's targets
#: are added per Ruta: ``fields_of``).
FIELDS: Mapping[str, tuple[str, ...]] = {
    "meta": ("objetivo_id", "tipo_meta", "enunciado", "cantidad", "unidad", "fecha_limite",
             "linea_base"),
    "indicador": ("meta_id", "tipo_indicador", "binario", "nombre", "formula", "unidad",
                  "frecuencia", "fuente", "linea_base"),
    "actividad": ("meta_id", "descripcion", "responsable", "fecha_inicio", "fecha_fin",
                  "recursos", "costo", "fuente_financiacion", "trayectorias"),
}
LIST_FIELDS = frozenset({"trayectorias"})
ARTICLES = {"meta": "la meta", "indicador": "el indicador", "actividad": "la actividad"}


def fields_of(ruta: Ruta, kind: str) -> tuple[str, ...]:
    if kind != "indicador":
        return FIELDS[kind]
    years = range(ruta.horizon_start_year, ruta.horizon_end_year + 1)
    return (*FIELDS[kind], *(f"meta_{year}" for year in years))


# --- who may propose ----------------------------------------------------------------------


def is_proposer(session: Session, ruta: Ruta, actor: User) -> bool:
    """The rector and the equipo de gestión, as for the PMI itself."""
    return is_rector_of(actor, ruta) or member_for(session, ruta, actor) is not None


def may_propose(session: Session, ruta: Ruta, actor: User) -> bool:
    return ruta.state is State.SEGUIMIENTO and is_proposer(session, ruta, actor)


def may_edit(session: Session, adjustment: PlanAdjustment, actor: User) -> bool:
    return (adjustment.state in EDITABLE_STATES
            and may_propose(session, adjustment.ruta, actor))


def _require_proposer(session: Session, ruta: Ruta, actor: User) -> None:
    if not is_proposer(session, ruta, actor):
        raise Forbidden("Los ajustes del plan los proponen el rector o la rectora y el equipo "
                        "de gestión de la institución.")
    lock_ruta(session, ruta)
    if ruta.state is not State.SEGUIMIENTO:
        raise NotEditable("El plan se ajusta durante el seguimiento periódico; ahora la Ruta "
                          f"está en «{ruta.state.label}».")


def require_editable(session: Session, adjustment: PlanAdjustment, actor: User) -> None:
    _require_proposer(session, adjustment.ruta, actor)
    session.refresh(adjustment)
    if adjustment.state not in EDITABLE_STATES:
        raise NotEditable(f"El {adjustment.label.lower()} está «{adjustment.state.label}»: no "
                          "se puede modificar. Si la Secretaría lo devuelve, podrá corregirlo.")


# --- reading ------------------------------------------------------------------------------


def adjustments_of(session: Session, ruta: Ruta, *,
                   with_details: bool = False) -> list[PlanAdjustment]:
    """The Ruta's adjustments, by number; ``with_details`` brings their changes and PMI
    versions with them (for a page listing them), rather than one statement per adjustment."""
    found = sorted(rows_of(session, PlanAdjustment, ruta.id), key=lambda row: row.number)
    if with_details and found:
        # Their PMI versions among the Ruta's (``rows_of``), their changes in one statement.
        versions = {row.id: row for row in rows_of(session, PmiSnapshot, ruta.id)}
        for row in found:
            set_committed_value(row, "snapshot", versions.get(row.snapshot_id))
        loaded = session.scalars(select(AdjustmentChange).where(
            AdjustmentChange.adjustment_id.in_([row.id for row in found]))
            .order_by(AdjustmentChange.id))
        by_adjustment: dict[int, list[AdjustmentChange]] = {}
        for change in loaded:
            by_adjustment.setdefault(change.adjustment_id, []).append(change)
        attach(found, "changes", by_adjustment)
    return found


def open_adjustment(session: Session, ruta: Ruta) -> PlanAdjustment | None:
    return session.scalar(select(PlanAdjustment).where(
        PlanAdjustment.ruta_id == ruta.id, PlanAdjustment.state.in_(OPEN_STATES)))


#: How many of the adjustments waiting for the Secretaría the reviewer's queue lists (those
#: sent longest ago); its heading counts them all, and «Pendientes» lists every one.
WAITING_LISTED = 10


@dataclass(frozen=True)
class WaitingAdjustment:
    """What the queue shows of an adjustment waiting for a decision (plain values: the list
    is kept per process, ``WAITING``)."""

    ruta_id: int
    number: int
    school_name: str
    sent_at: datetime
    changes: int

    @property
    def label(self) -> str:
        return f"Ajuste {self.number}"


@dataclass(frozen=True)
class Waiting:
    listed: tuple[WaitingAdjustment, ...]
    total: int


# Per process: the adjustments waiting for each Secretaría, per version of its adjustments,
# Rutas and schools (``scope_versions``): counting them joined the Secretaría's 10,000 Rutas
# and schools on every view of the queue (4 to 6 ms at 10,000 schools).
WAITING: Memo[Waiting] = scope_versions.memo(8)


def waiting_for_decision(session: Session, actor: User) -> Waiting:
    """The adjustments sent to the Secretaría, in ``actor``'s scope: the ``WAITING_LISTED``
    sent longest ago, each with its school and number of changes, and how many there are:
    two statements whatever the number of schools, once per version of the Secretaría's
    adjustments in each process. The first ones are read in the order of
    ``ix_plan_adjustments_sent_waiting``; the count joins the scope's Rutas rather than
    asking whether each is among them (a hash of 10,000 Rutas, then the same join)."""
    def compute() -> Waiting:
        waiting = (scoped(actor, Ruta).with_only_columns(PlanAdjustment.id,
                                                         maintain_column_froms=True)
                   .join(PlanAdjustment, PlanAdjustment.ruta_id == Ruta.id)
                   .where(PlanAdjustment.state == AdjustmentState.ENVIADO))
        change_count = (select(func.count(AdjustmentChange.id))
                        .where(AdjustmentChange.adjustment_id == PlanAdjustment.id)
                        .scalar_subquery())
        rows = session.execute(
            waiting.with_only_columns(PlanAdjustment.ruta_id, PlanAdjustment.number,
                                      School.name, PlanAdjustment.sent_at, change_count)
            .order_by(PlanAdjustment.sent_at, PlanAdjustment.id).limit(WAITING_LISTED)).all()
        total = (len(rows) if len(rows) < WAITING_LISTED
                 else session.scalar(waiting.with_only_columns(func.count(PlanAdjustment.id)))
                 or 0)
        return Waiting(listed=tuple(WaitingAdjustment(*row) for row in rows), total=total)

    if not actor.active or actor.role.belongs_to_school:  # a scope narrower than a Secretaría
        return compute()
    return cached(WAITING, session, actor.secretaria_id, "waiting", compute)


def get_adjustment(session: Session, ruta: Ruta, number: int) -> PlanAdjustment:
    found = session.scalar(select(PlanAdjustment).where(PlanAdjustment.ruta_id == ruta.id,
                                                        PlanAdjustment.number == number))
    if found is None:
        raise NotFound("No encontramos ese ajuste del plan.")
    return found


def get_change(adjustment: PlanAdjustment, change_id: int | None) -> AdjustmentChange:
    found = next((row for row in adjustment.changes if row.id == change_id), None)
    if found is None:
        raise NotFound("No encontramos ese cambio del ajuste.")
    return found


def events_of(session: Session, ruta: Ruta) -> list[AdjustmentEvent]:
    return sorted(rows_of(session, AdjustmentEvent, ruta.id), key=lambda row: (row.at, row.id))


def plan_labels(session: Session, ruta: Ruta) -> dict[str, str]:
    return element_labels(plan_content(session, ruta))


def targets(session: Session, ruta: Ruta, kind: str) -> list[tuple[Any, str]]:
    """The plan's elements of ``kind`` a change may target, with their labels."""
    labels = plan_labels(session, ruta)
    model = MODELS[kind]
    rows = session.scalars(select(model).where(model.ruta_id == ruta.id).order_by(model.id))
    return sorted(((row, labels.get(f"{kind}:{row.id}", kind)) for row in rows),
                  key=lambda item: [int(part) if part.isdigit() else 0
                                    for part in item[1].split(" ")[-1].split(".")])


# --- opening an adjustment ------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    adjustment: PlanAdjustment
    again: bool = False


def create_adjustment(session: Session, ruta: Ruta, *, actor: User, token: str | None,
                      now: datetime | None = None) -> Opened:
    """Open the next adjustment of the Ruta's plan, in preparation.

    The Ruta's row is locked first, so two tabs creating at once make one adjustment (the
    second finds the first); a partial unique index backs it. The form's one-time ``token``
    makes a repeated post return what the first created. Appends the «proponer» event.
    Flushes."""
    _require_proposer(session, ruta, actor)
    earlier = form_tokens.claim(session, token, user=actor, now=now)
    existing = open_adjustment(session, ruta)
    if existing is not None:
        return Opened(existing, again=True)
    if earlier is not None:
        # The token's first post created an adjustment that is no longer open: show it.
        last = session.scalar(select(PlanAdjustment).where(PlanAdjustment.ruta_id == ruta.id)
                              .order_by(PlanAdjustment.number.desc()).limit(1))
        if last is not None:
            return Opened(last, again=True)
    number = (session.scalar(select(func.max(PlanAdjustment.number))
                             .where(PlanAdjustment.ruta_id == ruta.id)) or 0) + 1
    moment = now or utcnow()
    adjustment = PlanAdjustment(ruta_id=ruta.id, number=number, state=AdjustmentState.BORRADOR,
                                created_by_id=actor.id, created_at=moment)
    session.add(adjustment)
    session.flush()
    session.add(AdjustmentEvent(adjustment_id=adjustment.id, ruta_id=ruta.id,
                                trigger=PROPOSED, from_state=None,
                                to_state=AdjustmentState.BORRADOR, actor_id=actor.id,
                                at=moment, extra={}))
    form_tokens.record(session, token, f"ajuste:{adjustment.id}")
    session.flush()
    return Opened(adjustment)


# --- the reports that speak of an element -------------------------------------------------


def reports_about(session: Session, kind: str, element: Any) -> list[FollowUpReport]:
    """The seguimiento reports with a line or a value of ``element`` (a meta: of any of its
    actividades or indicadores)."""
    if kind == "meta":
        actividad_ids = [row.id for row in element.actividades]
        indicador_ids = [row.id for row in element.indicadores]
    elif kind == "actividad":
        actividad_ids, indicador_ids = [element.id], []
    else:
        actividad_ids, indicador_ids = [], [element.id]
    report_ids = set(session.scalars(select(FollowUpLine.report_id).where(
        FollowUpLine.actividad_id.in_(actividad_ids or [-1]))))
    report_ids |= set(session.scalars(select(IndicatorValue.report_id).where(
        IndicatorValue.indicador_id.in_(indicador_ids or [-1]))))
    if not report_ids:
        return []
    return list(session.scalars(select(FollowUpReport).where(FollowUpReport.id.in_(report_ids))
                                .order_by(FollowUpReport.id)))


def has_final_results(session: Session, kind: str, element: Any) -> bool:
    """Whether the final evaluation already records a result of ``element`` (a meta: of it
    or of its indicadores)."""
    meta_ids = [element.id] if kind == "meta" else []
    indicador_ids = ([row.id for row in element.indicadores] if kind == "meta" else
                     [element.id] if kind == "indicador" else [])
    return (session.scalar(select(func.count()).select_from(MetaResult).where(
                MetaResult.meta_id.in_(meta_ids or [-1]))) or 0) + (session.scalar(
            select(func.count()).select_from(IndicatorResult).where(
                IndicatorResult.indicador_id.in_(indicador_ids or [-1]))) or 0) > 0


def removal_refusal(session: Session, kind: str, element: Any, label: str) -> str | None:
    """Why ``element`` cannot be removed (seguimiento reports or the final evaluation speak
    of it), or None."""
    found = reports_about(session, kind, element)
    if not found:
        if has_final_results(session, kind, element):
            article = "el" if kind == "indicador" else "la"
            return (f"No se puede eliminar {article} {label}: la evaluación final ya registra "
                    "sus resultados. Modifíquelo en el ajuste en lugar de eliminarlo."
                    if kind == "indicador" else
                    f"No se puede eliminar {article} {label}: la evaluación final ya registra "
                    "sus resultados. Modifíquela en el ajuste en lugar de eliminarla.")
        return None
    named = "; ".join(f"corte «{row.checkpoint.name}», {fecha_corta(row.checkpoint.due_on)}"
                      for row in found)
    article = "el" if kind == "indicador" else "la"
    if kind == "meta":
        return (f"No se puede eliminar la {label}: sus actividades o indicadores ya tienen "
                f"informes de seguimiento ({named}). Lo informado se conserva: modifique la "
                "meta en lugar de eliminarla, o informe sus actividades como canceladas.")
    return (f"No se puede eliminar {article} {label}: ya tiene informes de seguimiento "
            f"({named}). Lo informado se conserva: modifíquelo en lugar de eliminarlo, o "
            "infórmelo como cancelado." if kind == "indicador" else
            f"No se puede eliminar {article} {label}: ya tiene informes de seguimiento "
            f"({named}). Lo informado se conserva: modifíquela en lugar de eliminarla, o "
            "infórmela como cancelada.")


# --- writing a change ---------------------------------------------------------------------


def _posted(ruta: Ruta, kind: str, form: Mapping[str, Any]) -> dict[str, Any]:
    """The kind's fields as posted (lists for multiple choices, stripped strings else)."""
    values: dict[str, Any] = {}
    for name in fields_of(ruta, kind):
        raw = form.get(name, [] if name in LIST_FIELDS else "")
        if name in LIST_FIELDS:
            values[name] = [str(item) for item in (raw if isinstance(raw, list) else [raw])
                            if str(item)]
        else:
            values[name] = (raw[0] if isinstance(raw, list) and raw else
                            "" if isinstance(raw, list) else str(raw)).strip()
    return values


def parse_values(session: Session, ruta: Ruta, kind: str, element_id: int | None,
                 proposed: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The column values of ``proposed`` by the PMI's own parser, and its errors."""
    parse = forms.Parser(proposed, ruta, element_id, rules_of(session, ruta))
    values = forms.PARSERS[kind](session, parse)
    return values, parse.errors


def _target(session: Session, ruta: Ruta, kind: str, element_id: int | None) -> Any:
    model = MODELS[kind]
    found = session.get(model, element_id) if element_id is not None else None
    if found is None or found.ruta_id != ruta.id:
        raise InvalidInput({"elemento_id": [f"Elija {ARTICLES[kind]} del plan que quiere "
                                            "ajustar."]})
    return found


def _validate(session: Session, adjustment: PlanAdjustment, *, kind: ChangeKind,
              element_kind: str, element_id: int | None, form: Mapping[str, Any],
              justification: str, editing: AdjustmentChange | None = None,
              ) -> tuple[dict[str, Any], str, str]:
    """(proposed, justification, label) or ``InvalidInput`` with every problem at once."""
    ruta = adjustment.ruta
    if element_kind not in ELEMENT_KINDS:
        raise InvalidInput({"elemento": ["Elija qué ajusta: una meta, un indicador o una "
                                         "actividad."]})
    errors: dict[str, list[str]] = {}
    cleaned = justification.strip()
    if not cleaned:
        errors["justificacion"] = ["Escriba la justificación de este cambio: por qué se ajusta "
                                   "el plan (cada cambio necesita la suya)."]
    elif len(cleaned) > MAX_JUSTIFICATION:
        errors["justificacion"] = [f"La justificación no puede pasar de {MAX_JUSTIFICATION} "
                                   "caracteres."]
    labels = plan_labels(session, ruta)
    label = f"Nueva {element_kind}" if element_kind != "indicador" else "Nuevo indicador"
    proposed: dict[str, Any] = {}
    if kind is not ChangeKind.ADD:
        element = _target(session, ruta, element_kind, element_id)
        label = labels.get(f"{element_kind}:{element.id}", label)
        twin = next((row for row in adjustment.changes
                     if row.element_kind == element_kind and row.element_id == element.id
                     and row is not editing), None)
        if twin is not None:
            errors.setdefault("elemento_id", []).append(
                f"Este ajuste ya tiene un cambio sobre {label}: corrija ese cambio.")
        if kind is ChangeKind.REMOVE:
            refusal = removal_refusal(session, element_kind, element, label)
            if refusal:
                errors.setdefault("elemento_id", []).append(refusal)
    if kind is not ChangeKind.REMOVE:
        proposed = _posted(ruta, element_kind, form)
        _values, problems = parse_values(session, ruta, element_kind, element_id, proposed)
        for name, messages in problems.items():
            errors.setdefault(name, []).extend(messages)
    if errors:
        raise InvalidInput(errors)
    return proposed, cleaned, label


@dataclass(frozen=True)
class SavedChange:
    change: AdjustmentChange | None
    again: bool = False


def add_change(session: Session, adjustment: PlanAdjustment, *, actor: User, kind: ChangeKind,
               element_kind: str, element_id: int | None, form: Mapping[str, Any],
               justification: str, token: str | None,
               now: datetime | None = None) -> SavedChange:
    """Add one change to an adjustment in preparation (or returned). All or nothing. Flushes."""
    require_editable(session, adjustment, actor)
    # Claimed first: a refusal below rolls the claim back with everything else.
    earlier = form_tokens.claim(session, token, user=actor, now=now)
    if earlier is not None:
        _, _, raw = (earlier.result or "").partition(":")
        found = next((row for row in adjustment.changes if str(row.id) == raw), None)
        return SavedChange(found, again=True)
    proposed, cleaned, label = _validate(
        session, adjustment, kind=kind, element_kind=element_kind,
        element_id=None if kind is ChangeKind.ADD else element_id, form=form,
        justification=justification)
    change = AdjustmentChange(
        kind=kind, element_kind=element_kind,
        element_id=None if kind is ChangeKind.ADD else element_id, element_label=label[:120],
        proposed=proposed, justification=cleaned, created_by_id=actor.id,
        created_at=now or utcnow(), version=1)
    adjustment.changes.append(change)
    session.flush()
    form_tokens.record(session, token, f"cambio:{change.id}")
    return SavedChange(change)


def edit_change(session: Session, adjustment: PlanAdjustment, change_id: int | None, *,
                actor: User, form: Mapping[str, Any], justification: str,
                expected_version: int | None) -> AdjustmentChange:
    """Correct one change (its values and justification). A form drawn from an older version
    raises ``StaleEdit``. Flushes."""
    change = get_change(adjustment, change_id)  # 404 before any other refusal
    require_editable(session, adjustment, actor)
    session.refresh(change)
    require_version(change.version, expected_version, "este cambio del ajuste")
    proposed, cleaned, _label = _validate(
        session, adjustment, kind=change.kind, element_kind=change.element_kind,
        element_id=change.element_id, form=form, justification=justification, editing=change)
    change.proposed = proposed
    change.justification = cleaned
    change.version += 1
    session.flush()
    return change


def delete_change(session: Session, adjustment: PlanAdjustment, change_id: int | None, *,
                  actor: User) -> None:
    change = get_change(adjustment, change_id)  # 404 before any other refusal
    require_editable(session, adjustment, actor)
    adjustment.changes.remove(change)
    session.flush()


def initial_values(session: Session, ruta: Ruta, kind: str,
                   element_id: int | None) -> dict[str, Any]:
    """What a change's form shows first: the element's current values (empty for an add)."""
    if element_id is None:
        return {}
    element = _target(session, ruta, kind, element_id)
    stored = forms.element_values(kind, element)
    return {name: stored.get(name, [] if name in LIST_FIELDS else "")
            for name in fields_of(ruta, kind)}
