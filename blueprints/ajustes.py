"""Plan adjustments during seguimiento: the school proposes, the Secretaría decides.

Pages (every one in the Ruta's scope, 404 otherwise):

- the Ruta page shows the adjustments and «Proponer un ajuste del plan» (``ajustes/_ruta_*``
  through the ``plan_adjustments_for`` template global), and their steps in its history;
- ``/rutas/<id>/ajustes/<n>``: the adjustment, its changes (current → proposed, with the
  justification and the Secretaría's observation), «Enviar» for the rector, and the
  decision (observation per change, rubric, approve or return) for a revisor;
- ``/rutas/<id>/ajustes/<n>/cambios/nuevo`` and ``…/cambios/<change>``: a change's form.

Views are thin: load in scope → one service of ``workflow.ajustes`` → commit once → redirect.
Refusals re-show the form with what was typed (422; 409 for a stale edit).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from blueprints.access import (
    ALL_ROLES,
    FORM_LIMIT,
    form_int,
    posted_form,
    roles_required,
)
from blueprints.access import commit_or_conflict as _commit
from blueprints.access import current_actor as _actor
from blueprints.access import ruta_in_scope as _ruta
from ruta.db import db_session
from workflow import form_tokens
from workflow.ajustes import actions, changes, display
from workflow.ajustes.machine import OPEN_STATES, AdjustmentState, AdjustmentTrigger
from workflow.ajustes.models import ELEMENT_KIND_LABELS, ChangeKind, PlanAdjustment
from workflow.errors import GuardFailed, InvalidInput, StaleEdit
from workflow.models import Ruta
from workflow.pmi import rubric as rubrics
from workflow.pmi import versions
from workflow.pmi.criteria_names import CRITERION_LABELS
from workflow.pmi.models import Verdict
from workflow.roles import Role
from workflow.ruta_rows import memoized

bp = Blueprint("ajustes", __name__)

SCHOOL_EDITORS = (Role.RECTOR, Role.EQUIPO)


@bp.app_template_global("plan_adjustments_for")
def plan_adjustments_for(ruta: Ruta) -> dict[str, Any]:
    """What the Ruta page shows of its adjustments (``ajustes/_ruta_summary.html``, and its
    history): worked out once per GET request."""
    database = db_session()
    actor = _actor()

    def compute() -> dict[str, Any]:
        adjustments = changes.adjustments_of(database, ruta, with_details=True)
        return {"adjustments": adjustments,
                # At most one is open (a partial unique index): found in the list.
                "open": next((row for row in adjustments if row.state in OPEN_STATES), None),
                "events": changes.events_of(database, ruta),
                "may_propose": changes.may_propose(database, ruta, actor)}

    return memoized(database, ("plan_adjustments_for", ruta.id, actor.id), compute)


@bp.app_template_global("plan_adjustments_waiting")
def plan_adjustments_waiting() -> changes.Waiting:
    """The adjustments waiting for the Secretaría (``ajustes/_queue.html``)."""
    return changes.waiting_for_decision(db_session(), _actor())


def _adjustment(ruta: Ruta, number: int) -> PlanAdjustment:
    return changes.get_adjustment(db_session(), ruta, number)


# --- opening ------------------------------------------------------------------------------


@bp.post("/rutas/<int:ruta_id>/ajustes")
@roles_required(*SCHOOL_EDITORS)
def create(ruta_id: int) -> Response:
    ruta = _ruta(ruta_id)
    opened = changes.create_adjustment(db_session(), ruta, actor=_actor(),
                                       token=request.form.get(form_tokens.FIELD))
    _commit()
    adjustment = opened.adjustment
    flash(f"Ya había un ajuste abierto: {adjustment.label}." if opened.again else
          f"{adjustment.label} abierto: agregue los cambios, cada uno con su justificación.",
          "success")
    return redirect(url_for("ajustes.detail", ruta_id=ruta.id, number=adjustment.number))


# --- the adjustment's page ----------------------------------------------------------------


def _render_detail(ruta: Ruta, adjustment: PlanAdjustment, **context: Any) -> str:
    database = db_session()
    actor = _actor()
    applied = []
    if adjustment.snapshot is not None and adjustment.snapshot.number > 1:
        applied = versions.diff_snapshots(database, ruta, adjustment.snapshot.number - 1,
                                          adjustment.snapshot.number)
    targets = {kind: changes.targets(database, ruta, kind) for kind in ELEMENT_KIND_LABELS}
    context.setdefault("posted", {})
    context.setdefault("errors", {})
    return render_template(
        "ajustes/detail.html", ruta=ruta, adjustment=adjustment,
        compared={change.id: display.compare(database, ruta, change)
                  for change in adjustment.changes},
        applied=applied, targets=targets, kind_labels=ELEMENT_KIND_LABELS,
        may_edit=changes.may_edit(database, adjustment, actor),
        may_send=actions.may_fire(actor, adjustment, AdjustmentTrigger.ENVIAR),
        may_decide=actions.may_fire(actor, adjustment, AdjustmentTrigger.APROBAR),
        events=[event for event in changes.events_of(database, ruta)
                if event.adjustment_id == adjustment.id],
        RUBRIC_ORDER=rubrics.ORDER, RUBRIC_OBLIGATORY=rubrics.OBLIGATORY, Verdict=Verdict,
        CRITERION_LABELS=CRITERION_LABELS, rubric_field=rubrics.field_name,
        AdjustmentState=AdjustmentState, ChangeKind=ChangeKind, **context)


@bp.get("/rutas/<int:ruta_id>/ajustes/<int:number>")
@roles_required(*ALL_ROLES)
def detail(ruta_id: int, number: int) -> str:
    ruta = _ruta(ruta_id)
    return _render_detail(ruta, _adjustment(ruta, number))


@bp.post("/rutas/<int:ruta_id>/ajustes/<int:number>/enviar")
@roles_required(Role.RECTOR)
def send(ruta_id: int, number: int) -> Response | tuple[str, int]:
    ruta = _ruta(ruta_id)
    adjustment = _adjustment(ruta, number)
    database = db_session()
    try:
        actions.send(database, adjustment, actor=_actor(),
                     expected_version=form_int(request.form.get("version")))
    except GuardFailed as refused:
        database.rollback()
        return _render_detail(ruta, adjustment, reasons=refused.reasons,
                              error_message=refused.message), 422
    _commit()
    flash(f"{adjustment.label} enviado a la Secretaría. La Ruta sigue en seguimiento.",
          "success")
    return redirect(url_for("ajustes.detail", ruta_id=ruta.id, number=number))


@bp.post("/rutas/<int:ruta_id>/ajustes/<int:number>/decidir")
@roles_required(Role.REVISOR)
def decide(ruta_id: int, number: int) -> Response | tuple[str, int]:
    ruta = _ruta(ruta_id)
    adjustment = _adjustment(ruta, number)
    database = db_session()
    decision = request.form.get("decision", "")
    raw = rubrics.from_form(request.form)
    note = request.form.get("observaciones", "")[:FORM_LIMIT]
    observations = {change.id: request.form.get(f"observacion-{change.id}", "")[:FORM_LIMIT]
                    for change in adjustment.changes}
    posted = {**rubrics.posted_values(raw), "observaciones": note,
              **{f"observacion-{key}": value for key, value in observations.items()}}
    version = form_int(request.form.get("version"))
    try:
        if decision == "aprobar":
            actions.approve(database, adjustment, reviewer=_actor(), expected_version=version,
                            rubric=raw, note=note)
        elif decision == "devolver":
            actions.return_adjustment(database, adjustment, reviewer=_actor(),
                                      expected_version=version, rubric=raw,
                                      observations=observations, note=note)
        else:
            abort(400)
    except InvalidInput as invalid:
        database.rollback()
        return _render_detail(ruta, adjustment, posted=posted, errors=invalid.errors), 422
    except GuardFailed as refused:
        database.rollback()
        return _render_detail(ruta, adjustment, posted=posted, reasons=refused.reasons,
                              error_message=refused.message), 422
    except actions.StaleAdjustment as stale:
        database.rollback()
        database.expire_all()
        return _render_detail(ruta, _adjustment(ruta, number), posted=posted,
                              reasons=[stale.message],
                              error_message="No se guardó la decisión"), 409
    _commit()
    flash(f"{adjustment.label} aprobado: los cambios quedaron en el plan como su "
          f"{adjustment.snapshot.label.lower()}. La Ruta sigue en seguimiento."
          if decision == "aprobar" and adjustment.snapshot else
          f"{adjustment.label} devuelto a la institución con sus observaciones.", "success")
    return redirect(url_for("ajustes.detail", ruta_id=ruta.id, number=number))


# --- a change -----------------------------------------------------------------------------


def _render_change(ruta: Ruta, adjustment: PlanAdjustment, *, kind: ChangeKind,
                   element_kind: str, element_id: int | None, values: dict[str, Any],
                   errors: dict[str, list[str]], change_id: int | None = None,
                   conflict: bool = False) -> str:
    database = db_session()
    labels = changes.plan_labels(database, ruta)
    target = labels.get(f"{element_kind}:{element_id}", "") if element_id else ""
    return render_template(
        "ajustes/change.html", ruta=ruta, adjustment=adjustment, kind=kind,
        element_kind=element_kind, element_id=element_id, target=target, values=values,
        errors=errors, change_id=change_id, conflict=conflict,
        specs=[] if kind is ChangeKind.REMOVE else display.field_specs(database, ruta,
                                                                        element_kind),
        kind_label=ELEMENT_KIND_LABELS[element_kind], ChangeKind=ChangeKind)


def _action(raw: str) -> tuple[ChangeKind, str, int | None]:
    """``change:meta:12``, ``remove:actividad:7`` or ``add:indicador`` (the picker's value)."""
    parts = raw.split(":")
    try:
        kind = ChangeKind(parts[0])
    except ValueError:
        raise InvalidInput({"accion": ["Elija qué quiere ajustar del plan."]}) from None
    if len(parts) < 2 or parts[1] not in ELEMENT_KIND_LABELS:
        raise InvalidInput({"accion": ["Elija qué quiere ajustar del plan."]})
    element_id = form_int(parts[2]) if len(parts) > 2 else None
    if kind is not ChangeKind.ADD and element_id is None:
        raise InvalidInput({"accion": ["Elija qué quiere ajustar del plan."]})
    return kind, parts[1], None if kind is ChangeKind.ADD else element_id


@bp.route("/rutas/<int:ruta_id>/ajustes/<int:number>/cambios/nuevo", methods=["GET", "POST"])
@roles_required(*SCHOOL_EDITORS)
def new_change(ruta_id: int, number: int) -> Response | str | tuple[str, int]:
    ruta = _ruta(ruta_id)
    adjustment = _adjustment(ruta, number)
    database = db_session()
    source = request.args if request.method == "GET" else request.form
    try:
        kind, element_kind, element_id = _action(source.get("accion", ""))
    except InvalidInput as invalid:
        if request.method == "POST":
            raise
        flash(invalid.message, "error")
        return redirect(url_for("ajustes.detail", ruta_id=ruta.id, number=number))
    if request.method == "GET":
        if not changes.may_edit(database, adjustment, _actor()):
            flash("Este ajuste no se puede modificar ahora.", "error")
            return redirect(url_for("ajustes.detail", ruta_id=ruta.id, number=number))
        values = changes.initial_values(database, ruta, element_kind, element_id) \
            if kind is ChangeKind.CHANGE else {}
        values[form_tokens.FIELD] = form_tokens.new_token()
        return _render_change(ruta, adjustment, kind=kind, element_kind=element_kind,
                              element_id=element_id, values=values, errors={})
    form = posted_form(lists=changes.LIST_FIELDS)
    try:
        saved = changes.add_change(database, adjustment, actor=_actor(), kind=kind,
                                   element_kind=element_kind, element_id=element_id, form=form,
                                   justification=str(form.get("justificacion", "")),
                                   token=str(form.get(form_tokens.FIELD, "")))
    except InvalidInput as invalid:
        database.rollback()
        return _render_change(ruta, adjustment, kind=kind, element_kind=element_kind,
                              element_id=element_id, values=form, errors=invalid.errors), 422
    _commit()
    flash("Ya estaba guardado: este formulario se había enviado antes." if saved.again
          else "Cambio agregado al ajuste.", "success")
    return redirect(url_for("ajustes.detail", ruta_id=ruta.id, number=number,
                            _anchor="cambios"))


@bp.route("/rutas/<int:ruta_id>/ajustes/<int:number>/cambios/<int:change_id>",
          methods=["GET", "POST"])
@roles_required(*SCHOOL_EDITORS)
def edit_change(ruta_id: int, number: int, change_id: int) -> Response | str | tuple[str, int]:
    ruta = _ruta(ruta_id)
    adjustment = _adjustment(ruta, number)
    database = db_session()
    change = changes.get_change(adjustment, change_id)
    kind, element_kind, element_id = change.kind, change.element_kind, change.element_id
    if request.method == "GET":
        values = {**change.proposed, "justificacion": change.justification,
                  "version": change.version}
        return _render_change(ruta, adjustment, kind=kind, element_kind=element_kind,
                              element_id=element_id, values=values, errors={},
                              change_id=change.id)
    form = posted_form(lists=changes.LIST_FIELDS)
    try:
        changes.edit_change(database, adjustment, change.id, actor=_actor(), form=form,
                            justification=str(form.get("justificacion", "")),
                            expected_version=form_int(request.form.get("version")))
    except InvalidInput as invalid:
        database.rollback()
        return _render_change(ruta, adjustment, kind=kind, element_kind=element_kind,
                              element_id=element_id, values=form, errors=invalid.errors,
                              change_id=change_id), 422
    except StaleEdit as stale:
        database.rollback()
        database.expire_all()
        current = changes.get_change(_adjustment(ruta, number), change_id)
        return _render_change(ruta, adjustment, kind=kind, element_kind=element_kind,
                              element_id=element_id,
                              values={**form, "version": current.version},
                              errors={"": [stale.message]}, change_id=change_id,
                              conflict=True), 409
    _commit()
    flash("Cambio corregido.", "success")
    return redirect(url_for("ajustes.detail", ruta_id=ruta.id, number=number,
                            _anchor="cambios"))


@bp.post("/rutas/<int:ruta_id>/ajustes/<int:number>/cambios/<int:change_id>/eliminar")
@roles_required(*SCHOOL_EDITORS)
def delete_change(ruta_id: int, number: int, change_id: int) -> Response:
    ruta = _ruta(ruta_id)
    adjustment = _adjustment(ruta, number)
    changes.delete_change(db_session(), adjustment, change_id, actor=_actor())
    _commit()
    flash("Cambio quitado del ajuste.", "success")
    return redirect(url_for("ajustes.detail", ruta_id=ruta.id, number=number,
                            _anchor="cambios"))
