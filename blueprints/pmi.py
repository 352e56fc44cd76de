"""The PMI of a Ruta: the plan page with its live Circular 0488 report, the element forms,
versions and their diffs, the printable plan, the Secretaría's review with itemized
observations, and the Secretaría's list of hallazgo sources (administradores add to it).

Everyone who sees the Ruta reads these pages. The rector and the equipo de gestión edit the
plan while it is being formulated; only revisores write and judge observations; only the
rector answers them. Element and observation ids travel in the form or the query string and
are looked up within the Ruta, so another Ruta's element is never found.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from blueprints.access import (
    ALL_ROLES,
    FORM_LIMIT,
    Conflict,
    conflict_between,
    form_int,
    posted_form,
    required_form_id,
    roles_required,
)
from blueprints.access import commit_or_conflict as _commit
from blueprints.access import current_actor as _actor
from blueprints.access import ruta_in_scope as _ruta
from ruta.db import db_session
from workflow import form_tokens, observations, services
from workflow.errors import GuardFailed, InvalidInput, StaleEdit, StaleRuta
from workflow.models import Ruta
from workflow.pmi import actions as pmi_actions
from workflow.pmi import checks as pmi_checks
from workflow.pmi import criteria as pmi_criteria
from workflow.pmi import deletions, review
from workflow.pmi import forms as pmi_forms
from workflow.pmi import fuentes as pmi_fuentes
from workflow.pmi import plan as pmi
from workflow.pmi import rubric as rubrics
from workflow.pmi import versions as pmi_versions
from workflow.pmi.criteria_names import (
    CRITERION_LABELS,
)
from workflow.pmi.models import (
    COMPARACION_LABELS,
    META_TIPO_LABELS,
    IndicadorTipo,
    Observation,
    Trayectoria,
    ValorUnidad,
    Verdict,
)
from workflow.roles import Role
from workflow.situation import situation_of
from workflow.states import ReturnTarget, Trigger

bp = Blueprint("pmi", __name__)

SCHOOL_EDITORS = (Role.RECTOR, Role.EQUIPO)


# Fields posted with several values (multiple selections).
MULTIPLE = ("componentes", "hallazgos", "trayectorias")
# What the element forms offer: meta and indicator types, hallazgo units and comparisons.
FORM_CHOICES = {
    "meta_tipo_options": [(item.value, label) for item, label in META_TIPO_LABELS.items()],
    "indicador_tipo_options": [(item.value, item.label) for item in IndicadorTipo],
    "valor_unidad_options": [(item.value, item.label) for item in ValorUnidad],
    "comparacion_options": [(item.value, label) for item, label in COMPARACION_LABELS.items()],
    "Trayectoria": Trayectoria}


@bp.app_context_processor
def _summary_helper() -> dict[str, Any]:
    return {"pmi_summary": _summary, "observations_to_send": _to_send}


def _to_send(ruta: Ruta) -> list[Observation]:
    """The itemized observations a return would send now (the return forms list them)."""
    return review.for_return(db_session(), ruta)


def _summary(ruta: Ruta) -> dict[str, Any]:
    """What the Ruta page shows of the PMI (``pmi/_ruta_summary.html`` calls it)."""
    database = db_session()
    actor = _actor()
    return {"report": pmi_checks.check_ruta(database, ruta),
            "versions": len(pmi_versions.snapshots(database, ruta)),
            "observations": review.observations(database, ruta),
            "can_edit": pmi.can_edit(database, ruta, actor),
            "may_review": review.may_review(actor, ruta)}


# --- the plan -----------------------------------------------------------------------------


def _plan_context(ruta: Ruta) -> dict[str, Any]:
    database = db_session()
    plan = pmi.load_plan(database, ruta)
    report = pmi_checks.run_checks(plan.content)
    return {"ruta": ruta, "plan": plan, "report": report,
            "oportunidades": plan.content["autoevaluacion"]["oportunidades"],
            "top": plan.content["rules"]["priority_count"],
            "top_ids": {row["componente_id"]
                        for row in pmi_criteria.top_priorities(plan.content)},
            "can_edit": pmi.can_edit(database, ruta, _actor()),
            "Trayectoria": Trayectoria, "years": pmi.years_of(ruta),
            "CRITERION_LABELS": CRITERION_LABELS, "Severity": pmi_checks.Severity,
            "may_submit": Trigger.FORMULAR_PMI in services.available_actions(_actor(), ruta),
            "unanswered": review.unanswered(database, ruta),
            "general_version": pmi.general_version(database, ruta),
            "undoable": deletions.undoable(database, ruta)}


@bp.get("/rutas/<int:ruta_id>/pmi")
@roles_required(*ALL_ROLES)
def index(ruta_id: int) -> str:
    return render_template("pmi/index.html", **_plan_context(_ruta(ruta_id)))


@bp.post("/rutas/<int:ruta_id>/pmi/general")
@roles_required(*SCHOOL_EDITORS)
def general(ruta_id: int) -> Response | tuple[str, int]:
    ruta = _ruta(ruta_id)
    database = db_session()
    posted = posted_form(lists=MULTIPLE)
    try:
        pmi.save_general(database, ruta, posted, actor=_actor(),
                         expected_version=form_int(request.form.get("version")))
    except InvalidInput as invalid:
        database.rollback()
        return render_template("pmi/index.html", errors=invalid.errors, posted=posted,
                               **_plan_context(ruta)), 422
    except StaleEdit:
        database.rollback()
        database.expire_all()
        context = _plan_context(ruta)
        saved = pmi_forms.general_values(context["plan"].general)
        return render_template(
            "pmi/index.html", errors={}, posted={**posted, "version": str(
                pmi.general_version(database, ruta))},
            conflict=conflict_between(posted, saved), **context), 409
    _commit()
    flash("Guardado: presupuesto y divulgación del plan.", "success")
    return redirect(url_for("pmi.index", ruta_id=ruta.id, _anchor="general"))


def _render_element(ruta: Ruta, kind: str, element: Any, values: dict[str, Any],
                    errors: dict[str, list[str]], **extra: Any) -> str:
    database = db_session()
    plan = pmi.load_plan(database, ruta)
    return render_template(
        "pmi/element.html", ruta=ruta, kind=kind, element=element, values=values,
        errors=errors, plan=plan, label=pmi.KIND_LABELS[kind],
        version=values.get("version", element.version if element is not None else ""),
        **{"conflict": None, "gone": None, **extra},
        oportunidades=plan.content["autoevaluacion"]["oportunidades"],
        fortalezas=plan.content["autoevaluacion"]["fortalezas"],
        metas=[(meta, plan.labels[f"meta:{meta.id}"]) for objetivo in plan.objetivos
               for meta in objetivo.metas],
        fuente_options=[(option.code, option.label)
                        for option in pmi_fuentes.options_for_ruta(database, ruta)],
        years=pmi.years_of(ruta),
        rules=plan.content["rules"], catalog_componentes=catalog_componentes(ruta), **FORM_CHOICES)


def catalog_componentes(ruta: Ruta) -> list[Any]:
    catalog = getattr(ruta, "catalog", None)
    return list(catalog.componente_nodes) if catalog is not None else []


@bp.route("/rutas/<int:ruta_id>/pmi/elemento", methods=["GET", "POST"])
@roles_required(*SCHOOL_EDITORS)
def element(ruta_id: int) -> Response | str | tuple[str, int]:
    """The form of one element: ``tipo`` says which kind, ``elemento_id`` which one (none:
    a new one)."""
    ruta = _ruta(ruta_id)
    database = db_session()
    source = request.args if request.method == "GET" else request.form
    kind = source.get("tipo", "")
    element_id = form_int(source.get("elemento_id"))
    if kind not in pmi.ELEMENT_KINDS:
        if request.method == "GET":
            return redirect(url_for("pmi.index", ruta_id=ruta.id))
        raise InvalidInput({"tipo": ["Elija qué elemento del PMI quiere guardar."]})
    if request.method == "POST" and element_id is not None \
            and pmi.find_element(database, kind, element_id) is None:
        stored = None  # deleted since the form was drawn: the service says so (409)
    else:
        stored = pmi.get_element(database, ruta, kind, element_id) if element_id else None
    if request.method == "GET":
        if not pmi.can_edit(database, ruta, _actor()):
            flash("El PMI no se puede modificar ahora: solo se formula con la autoevaluación "
                  "enviada, por el rector o la rectora y el equipo de gestión.", "error")
            return redirect(url_for("pmi.index", ruta_id=ruta.id))
        if stored is None and not form_tokens.TOKEN_PATTERN.fullmatch(
                request.args.get("token", "")):
            # The new form's one-time token goes in its address: Back re-fetches the page
            # (never stored) with the same token, the browser puts the typed values back,
            # and «Guardar» again finds the element the first post created.
            return redirect(url_for("pmi.element", ruta_id=ruta.id,
                                    **{**request.args.to_dict(),
                                       "token": form_tokens.new_token()}))
        values = pmi_forms.element_values(kind, stored)
        if stored is None and source.get("padre"):
            values[{"meta": "objetivo_id"}.get(kind, "meta_id")] = source.get("padre", "")
        if stored is None and source.get("componente"):
            values["componente_id"] = source.get("componente", "")
        if stored is None:
            values[form_tokens.FIELD] = request.args.get("token", "")
        return _render_element(ruta, kind, stored, values, {})
    form = posted_form(lists=MULTIPLE)
    token = str(form.get(form_tokens.FIELD, ""))
    try:
        if element_id is None:
            result = pmi.create_element(database, ruta, kind, form, actor=_actor(), token=token)
        else:
            result = pmi.Saved(kind, pmi.save_element(
                database, ruta, kind, element_id, form, actor=_actor(),
                expected_version=form_int(request.form.get("version"))))
    except InvalidInput as invalid:
        database.rollback()
        return _render_element(ruta, kind, stored, form, invalid.errors), 422
    except pmi.ElementGone as gone:
        database.rollback()
        # Drawn as a new element: «Guardar» creates it again with the person's values.
        values = {name: value for name, value in form.items()
                  if name not in ("elemento_id", "version", form_tokens.FIELD)}
        return _render_element(ruta, kind, None, values, {}, gone=gone.message), 409
    except StaleEdit:
        database.rollback()
        database.expire_all()
        current = pmi.get_element(database, ruta, kind, element_id)
        return _render_element(ruta, kind, current, {**form, "version": current.version}, {},
                               conflict=_conflict(ruta, kind, form, current)), 409
    _commit()
    if result.element is None:
        flash("Ya estaba guardado: este formulario se había enviado antes.", "success")
        return redirect(url_for("pmi.index", ruta_id=ruta.id))
    saved = result.element
    content = pmi.plan_content(database, ruta)
    label = pmi.element_labels(content).get(f"{kind}:{saved.id}", pmi.KIND_LABELS[kind])
    flash(f"Ya estaba guardado: {label}. No se creó otro." if result.again
          else f"Guardado: {label}.", "success")
    return redirect(url_for("pmi.index", ruta_id=ruta.id, _anchor=f"{kind}-{saved.id}"))


def _conflict(ruta: Ruta, kind: str, posted: dict[str, Any], current: Any) -> Conflict:
    """What is saved now beside what the person posted, in words the form's labels use."""
    saved = {name: value for name, value in pmi_forms.element_values(kind, current).items()
             if name not in pmi_forms.NOT_IN_FORM}
    found = conflict_between(posted, saved)
    database = db_session()
    words = pmi_forms.SavedWords(pmi.load_plan(database, ruta).labels,
                   {str(c.id): f"{c.code} {c.name}" for c in catalog_componentes(ruta)},
                   dict((option.code, option.label)
                        for option in pmi_fuentes.options_for_ruta(database, ruta)))
    return Conflict(saved={name: words.shown(name, value) for name, value in saved.items()},
                    changed=found.changed)


def _confirm_delete(ruta: Ruta) -> Response | str:
    """What deleting an element takes with it, with «Sí, eliminar» and «Cancelar»."""
    database = db_session()
    kind = request.args.get("tipo", "")
    element_id = form_int(request.args.get("elemento_id"))
    if kind not in pmi.ELEMENT_KINDS or element_id is None:
        return redirect(url_for("pmi.index", ruta_id=ruta.id))
    if not pmi.can_edit(database, ruta, _actor()):
        flash("El PMI no se puede modificar ahora: solo se formula con la autoevaluación "
              "enviada, por el rector o la rectora y el equipo de gestión.", "error")
        return redirect(url_for("pmi.index", ruta_id=ruta.id))
    found = deletions.preview(database, ruta, kind, element_id)
    return render_template("pmi/confirm_delete.html", ruta=ruta, preview=found,
                           cancel=url_for("pmi.index", ruta_id=ruta.id,
                                          _anchor=f"{kind}-{element_id}"))


@bp.route("/rutas/<int:ruta_id>/pmi/eliminar", methods=["GET", "POST"])
@roles_required(*SCHOOL_EDITORS)
def delete(ruta_id: int) -> Response | str:
    """GET: the confirmation page (no JavaScript needed); POST: «Sí, eliminar»."""
    ruta = _ruta(ruta_id)
    if request.method == "GET":
        return _confirm_delete(ruta)
    kind = request.form.get("tipo", "")
    if kind not in pmi.ELEMENT_KINDS:
        raise InvalidInput({"tipo": ["Elija qué elemento del PMI quiere eliminar."]})
    element_id = required_form_id("elemento_id", "Elija qué elemento del PMI quiere eliminar.")
    done = deletions.delete_element(db_session(), ruta, kind, element_id, actor=_actor())
    _commit()
    if done.again:
        flash(f"Ya estaba eliminado: {done.deletion.label}.", "success")
    else:
        what = done.deletion.summary.removeprefix("Se eliminan ").removeprefix("Se elimina ")
        minutes = int(deletions.UNDO_WINDOW.total_seconds() // 60)
        flash(f"Eliminado: {what} Puede deshacerlo con «Deshacer», en esta página, durante "
              f"{minutes} minutos.", "success")
    return redirect(url_for("pmi.index", ruta_id=ruta.id, _anchor="deshacer"))


@bp.post("/rutas/<int:ruta_id>/pmi/deshacer")
@roles_required(*SCHOOL_EDITORS)
def undo_delete(ruta_id: int) -> Response:
    ruta = _ruta(ruta_id)
    deletion_id = required_form_id("eliminacion", "Elija qué eliminación quiere deshacer.")
    restored = deletions.undo(db_session(), ruta, deletion_id, actor=_actor())
    _commit()
    flash(f"Restaurado: {restored.label}, con todo lo que se había eliminado con él.",
          "success")
    return redirect(url_for("pmi.index", ruta_id=ruta.id,
                            _anchor=f"{restored.kind}-{restored.element_id}"))


# --- the review ---------------------------------------------------------------------------


def _review_context(ruta: Ruta, **extra: Any) -> dict[str, Any]:
    database = db_session()
    actor = _actor()
    plan = pmi.load_plan(database, ruta)
    actions = services.available_actions(actor, ruta)
    return {
        "ruta": ruta, "plan": plan, "report": pmi_checks.run_checks(plan.content),
        "oportunidades": plan.content["autoevaluacion"]["oportunidades"],
        "observations": review.observations(database, ruta),
        "numbers": review.numbered(database, ruta),
        "since": review.since_last_review(database, ruta),
        "latest": pmi_versions.latest(database, ruta),
        "may_review": review.may_review(actor, ruta),
        "may_answer": review.may_answer(actor, ruta),
        "CRITERION_LABELS": CRITERION_LABELS,
        "may_return": Trigger.DEVOLVER in actions, "may_approve": Trigger.APROBAR in actions,
        "ReturnTarget": ReturnTarget, "errors": {}, "posted": {},
        "rounds": rubrics.rounds(database, ruta), "RUBRIC_ORDER": rubrics.ORDER,
        "RUBRIC_OBLIGATORY": rubrics.OBLIGATORY, "Verdict": Verdict,
        "rubric_field": rubrics.field_name, "undo": None, **extra,
    }


@bp.get("/rutas/<int:ruta_id>/pmi/revision")
@roles_required(*ALL_ROLES)
def review_page(ruta_id: int) -> str:
    ruta = _ruta(ruta_id)
    return render_template("pmi/review.html", **_review_context(ruta, undo=_undo_for(ruta)))


def _undo_for(ruta: Ruta) -> dict[str, str] | None:
    """The observation just deleted on this Ruta's review, offered once for «Deshacer»."""
    undo = session.get(UNDO_OBSERVATION_KEY)
    if undo is None or undo.get("ruta") != ruta.id:
        return None
    return session.pop(UNDO_OBSERVATION_KEY)  # type: ignore[no-any-return]


def _add_with_return(ruta: Ruta, adding: dict[str, str],
                     expected_version: int) -> dict[str, list[str]]:
    """Add the observation typed in the return form as a draft the return then sends; what
    is wrong with it, under the return form's field names."""
    services.check_attempt(db_session(), ruta, Trigger.DEVOLVER, actor=_actor(),
                           expected_version=expected_version)
    try:
        review.add_observation(db_session(), ruta, reviewer=_actor(),
                               element=adding["elemento"], criterion=adding["criterio"],
                               text=adding["texto"])
    except InvalidInput as invalid:
        return {f"nueva-{name}": messages for name, messages in invalid.errors.items()}
    return {}


@bp.post("/rutas/<int:ruta_id>/pmi/decision")
@roles_required(Role.REVISOR)
def decide(ruta_id: int) -> Response | tuple[str, int]:
    """Approve or return the PMI with the rubric; a refusal re-shows everything typed."""
    ruta = _ruta(ruta_id)
    database = db_session()
    decision = request.form.get("decision", "")
    expected_version = form_int(request.form.get("version"))
    raw = rubrics.from_form(request.form)
    comment = request.form.get("observaciones", "")[:FORM_LIMIT]
    target_value = request.form.get("destino", "")
    # An itemized observation typed in the return form goes with the return.
    adding = {name: request.form.get(f"nueva-{name}", "")[:FORM_LIMIT]
              for name in ("elemento", "criterio", "texto")}
    posted = {**rubrics.posted_values(raw), "observaciones": comment, "destino": target_value,
              **{f"nueva-{name}": value for name, value in adding.items()}}
    try:
        if decision not in ("aprobar", "devolver") or expected_version is None:
            raise InvalidInput({"decision": ["Elija si aprueba el PMI o lo devuelve con "
                                             "observaciones."]})
        if decision == "devolver" and adding["texto"].strip():
            problems = _add_with_return(ruta, adding, expected_version)
            if problems:  # said together with the rubric's, so one refusal lists all
                try:
                    rubrics.validate(raw)
                except InvalidInput as invalid:
                    problems = {**invalid.errors, **problems}
                raise InvalidInput(problems)
        if decision == "aprobar":
            pmi_actions.approve(database, ruta, reviewer=_actor(), rubric=raw,
                                expected_version=expected_version, observations=comment)
        else:
            target = next((item for item in ReturnTarget if item.value == target_value), None)
            pmi_actions.return_with_observations(
                database, ruta, reviewer=_actor(), rubric=raw, target=target,
                expected_version=expected_version, observations=comment)
    except InvalidInput as invalid:
        database.rollback()
        return render_template("pmi/review.html", **_review_context(
            ruta, errors=invalid.errors, posted=posted)), 422
    except GuardFailed as refused:
        database.rollback()
        return render_template("pmi/review.html", **_review_context(
            ruta, posted=posted, error_message=refused.message,
            reasons=refused.reasons)), 422
    except StaleRuta as stale:
        # Someone moved the Ruta meanwhile: the page shows where it is now, with the rubric
        # the revisor typed still in the form (when a decision is still possible).
        database.rollback()
        database.expire_all()
        return render_template("pmi/review.html", **_review_context(
            ruta, posted=posted, error_message=stale.message, reasons=[])), 409
    _commit()
    past = (Trigger.APROBAR if decision == "aprobar" else Trigger.DEVOLVER).past_tense
    where = situation_of(database, ruta).label
    flash(f"Listo: {past[0].lower()}{past[1:]}. La Ruta quedó en «{where}».",
          "success")
    return redirect(url_for("rutas.detail", ruta_id=ruta.id))


@bp.post("/rutas/<int:ruta_id>/pmi/observaciones")
@roles_required(Role.REVISOR)
def add_observation(ruta_id: int) -> Response | tuple[str, int]:
    """Add an itemized observation. On the review page its fields belong to the decision
    form (its button posts here with ``formaction``), so the rubric typed so far comes along
    and is shown again, with the observation added, instead of being lost in a redirect."""
    ruta = _ruta(ruta_id)
    database = db_session()
    form = posted_form(lists=MULTIPLE)
    carried = rubrics.decision_values(request.form, limit=FORM_LIMIT)
    # «Deshacer» after a deletion posts the deleted observation under its own names.
    prefix = "deshacer-" if form.get("deshacer") == "1" else ""
    token_field = "deshacer-token" if prefix else form_tokens.FIELD
    try:
        row = review.add_observation_once(
            database, ruta, reviewer=_actor(), element=str(form.get(f"{prefix}elemento", "")),
            criterion=str(form.get(f"{prefix}criterio", "")),
            text=str(form.get(f"{prefix}texto", "")), token=str(form.get(token_field, "")))
    except InvalidInput as invalid:
        database.rollback()
        return render_template("pmi/review.html", **_review_context(
            ruta, errors=invalid.errors, posted=form)), 422
    _commit()
    flash("Observación agregada. Se envía a la institución cuando devuelva el plan."
          if row is not None else "Ya estaba agregada: no se agregó otra vez.", "success")
    if carried:
        # Rendered, not redirected: the rubric lives only in this form until the decision.
        return render_template("pmi/review.html", **_review_context(ruta, posted=carried))
    return redirect(url_for("pmi.review_page", ruta_id=ruta.id, _anchor="observaciones"))


# A deleted draft observation, for one «Deshacer» on the review page that follows.
UNDO_OBSERVATION_KEY = "pmi_deshacer_observacion"


def _after_observation_change(ruta: Ruta, carried: dict[str, str], anchor: str) -> Any:
    """Back to the review page: drawn again with the decision typed so far when the post
    carried it (the rubric lives only in that form), redirected otherwise."""
    if carried:
        return render_template("pmi/review.html", **_review_context(
            ruta, posted=carried, undo=_undo_for(ruta)))
    return redirect(url_for("pmi.review_page", ruta_id=ruta.id, _anchor=anchor))


@bp.post("/rutas/<int:ruta_id>/pmi/observaciones/eliminar")
@roles_required(Role.REVISOR)
def delete_observation(ruta_id: int) -> Response | str:
    """Delete a draft observation after a confirmation page (no JavaScript): the first post
    shows what goes; only the post from that page deletes. The rubric typed in the decision
    form travels through both and is shown again."""
    ruta = _ruta(ruta_id)
    database = db_session()
    observation_id = required_form_id("observacion", "Elija la observación.")
    carried = rubrics.decision_values(request.form, limit=FORM_LIMIT)
    if request.form.get("confirmado") == "no":  # «No, volver» with a rubric being typed
        return _after_observation_change(ruta, carried, f"observacion-{observation_id}")
    if request.form.get("confirmado") != "si":
        row = review.draft_to_delete(database, ruta, observation_id, reviewer=_actor())
        return render_template("pmi/confirm_delete_observation.html", ruta=ruta, row=row,
                               number=review.numbered(database, ruta).get(row.id),
                               carried=carried)
    row = review.delete_draft(database, ruta, observation_id, reviewer=_actor())
    undo = {"ruta": ruta.id, "elemento": row.element, "criterio": str(row.criterion),
            "texto": row.text}
    _commit()
    session[UNDO_OBSERVATION_KEY] = undo
    flash("Observación eliminada.", "success")
    return _after_observation_change(ruta, carried, "observaciones")


def _judged_pair() -> tuple[int, str]:
    """The observation and the verdict: one button value «id:veredicto» when the button
    belongs to the decision form, or the two fields of the stand-alone form."""
    pair = request.form.get("juicio", "")
    number, _, verdict = pair.partition(":")
    if not pair:
        number, verdict = request.form.get("observacion", ""), request.form.get("veredicto", "")
    found = form_int(number)
    if found is None:
        raise InvalidInput({"observacion": ["Elija la observación."]})
    return found, verdict


@bp.post("/rutas/<int:ruta_id>/pmi/observaciones/valorar")
@roles_required(Role.REVISOR)
def judge_observation(ruta_id: int) -> Response | str:
    ruta = _ruta(ruta_id)
    observation_id, verdict = _judged_pair()
    resolved = observations.parse_verdict(verdict)
    row = review.judge(db_session(), ruta, observation_id, reviewer=_actor(),
                       resolved=resolved)
    _commit()
    flash(f"La observación quedó «{row.status.label.lower()}».", "success")
    return _after_observation_change(
        ruta, rubrics.decision_values(request.form, limit=FORM_LIMIT), f"observacion-{row.id}")


@bp.post("/rutas/<int:ruta_id>/pmi/observaciones/responder")
@roles_required(Role.RECTOR)
def answer_observation(ruta_id: int) -> Response | tuple[str, int]:
    ruta = _ruta(ruta_id)
    database = db_session()
    observation_id = required_form_id("observacion", "Elija la observación.")
    try:
        review.answer(database, ruta, observation_id, actor=_actor(),
                      response=request.form.get("respuesta", "")[:FORM_LIMIT])
    except InvalidInput as invalid:
        database.rollback()
        return render_template("pmi/review.html", **_review_context(
            ruta, errors={f"respuesta-{observation_id}": invalid.errors["respuesta"]},
            posted={f"respuesta-{observation_id}": request.form.get("respuesta", "")})), 422
    _commit()
    flash("Respuesta guardada. Cuando responda todas, vuelva a enviar el PMI.", "success")
    return redirect(url_for("pmi.review_page", ruta_id=ruta.id,
                            _anchor=f"observacion-{observation_id}"))
