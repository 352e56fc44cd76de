"""A Ruta's page (stepper, explanation, actions, history) and the one endpoint for its actions.

Rector, team, revisores, administración and consulta all see the same page for a Ruta in
their scope; the machine and the role table decide which action buttons it shows.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from blueprints.access import (
    ALL_ROLES,
    current_actor,
    form_int,
    prefetch_ruta_page,
    roles_required,
    ruta_page_loads,
)
from ruta.db import db_session
from ruta.security import log_event
from workflow import form_tokens, page_stamps, services
from workflow.autoevaluacion import actions as auto_actions
from workflow.autoevaluacion import window as auto_window
from workflow.cierre import actions as cierre_actions
from workflow.dates import fecha
from workflow.errors import GuardFailed, InvalidInput, StaleRuta
from workflow.form_tokens import new_token
from workflow.models import Ruta, RutaTransition, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi import rubric as rubrics
from workflow.pmi import takeover
from workflow.roles import Role
from workflow.ruta_rows import memoized
from workflow.scoping import get_in_scope
from workflow.seguimiento import actions as seguimiento_actions
from workflow.situation import situation_of
from workflow.states import ReturnTarget, Trigger

bp = Blueprint("rutas", __name__, url_prefix="/rutas")

#: The service behind each button of the Ruta page, and the keyword its actor goes by. The
#: services live in the ``actions`` module of the stage that owns what they judge.
ACTIONS = {
    Trigger.ENVIAR_AUTOEVALUACION: (auto_actions.submit_self_assessment, "actor"),
    Trigger.FORMULAR_PMI: (pmi_actions.submit_pmi, "actor"),
    Trigger.TOMAR_REVISION: (pmi_actions.take_for_review, "reviewer"),
    Trigger.INICIAR_SEGUIMIENTO: (seguimiento_actions.start_follow_up, "actor"),
    Trigger.CERRAR: (cierre_actions.close, "reviewer"),
}


def fire_action(session: Session, ruta: Ruta, trigger: Trigger, *, actor: User,
                expected_version: int, observations: str = "",
                target: ReturnTarget | None = None,
                rubric: rubrics.RawRubric | None = None) -> RutaTransition:
    """Dispatch a button of the Ruta page to its service, so one view serves every button.

    Returning and approving carry the revisor's rubric (the PMI's review page posts it to
    ``pmi.decide``; posted here, it is validated the same way)."""
    if trigger is Trigger.DEVOLVER:
        return pmi_actions.return_with_observations(
            session, ruta, reviewer=actor, expected_version=expected_version,
            observations=observations, target=target, rubric=rubric or {})
    if trigger is Trigger.APROBAR:
        return pmi_actions.approve(session, ruta, reviewer=actor, rubric=rubric or {},
                                   expected_version=expected_version,
                                   observations=observations)
    service, actor_keyword = ACTIONS[trigger]
    return service(session, ruta, expected_version=expected_version,  # type: ignore[operator]
                   observations=observations, **{actor_keyword: actor})


@bp.app_template_global("autoevaluacion_window")
def _window_notice(ruta: Ruta) -> auto_window.WindowNotice:
    """The autoevaluación window as the Ruta and autoevaluación pages show it (worked out once
    per GET request: the page asks twice)."""
    database, actor = db_session(), current_actor()
    return memoized(database, ("autoevaluacion_window", ruta.id, actor.id),
                    lambda: auto_window.notice_for(database, ruta, actor))


def _body(ruta: Ruta, **context: object) -> str:
    """The page's body (``rutas/_detail_body.html``): ``context`` carries what a refused post
    shows again (reasons, what was typed)."""
    perspective = 0 if current_user.role.belongs_to_school else 1
    actions = services.available_actions(current_user, ruta)
    if takeover.holder_refusal(ruta, current_user) is not None:
        # Only whoever took the review decides; the others see «Tomar de X» instead.
        actions = [action for action in actions
                   if action not in (Trigger.APROBAR, Trigger.DEVOLVER)]
    takeovers = takeover.history(db_session(), ruta)
    return render_template(
        "rutas/_detail_body.html", ruta=ruta, perspective=perspective,
        actions=actions, ReturnTarget=ReturnTarget,
        takeover_since=takeover.since(db_session(), ruta, takeovers),
        may_take_over=takeover.may_take_over(current_user, ruta),
        takeovers=takeovers,
        history=list(reversed(ruta.transitions)),
        rubric_entries={item.verdicts[0].transition_id
                        for item in rubrics.rounds(db_session(), ruta)}, **context,
    )


def _page(heading: page_stamps.Heading, body: Markup) -> str:
    return render_template("rutas/detail.html", heading=heading, body=body)


def _render_detail(ruta: Ruta, **context: object) -> str:
    """The whole page drawn now, never kept: after a refused post, with what was typed."""
    heading = page_stamps.Heading(ruta.id, ruta.school.name, ruta.horizon_label)
    return _page(heading, Markup(_body(ruta, **context)))  # noqa: S704 (autoescaped template)


@bp.get("/<int:ruta_id>")
@roles_required(*ALL_ROLES)
def detail(ruta_id: int) -> str:
    database, viewer = db_session(), current_actor()
    heading, stamps = page_stamps.heading_in_scope(database, viewer, ruta_id)

    def draw() -> page_stamps.Body:
        ruta = page_stamps.load_ruta(database, ruta_id, *ruta_page_loads(joined=True))
        prefetch_ruta_page(database, ruta)
        return page_stamps.Body.of(_body(ruta))

    body = page_stamps.RUTA_BODIES.get(
        page_stamps.body_key(ruta_id, stamps, viewer, mounted_at=request.script_root), draw)
    return _page(heading, body.filled(csrf_token=generate_csrf(), new_form_token=new_token))


@bp.post("/<int:ruta_id>/acciones/<trigger_name>")
@roles_required(*ALL_ROLES)
def act(ruta_id: int, trigger_name: str) -> Response | tuple[str, int]:
    database = db_session()
    ruta = get_in_scope(database, current_user, Ruta, ruta_id)
    try:
        trigger = Trigger(trigger_name)
    except ValueError:
        abort(404)
    if not services.may_fire(current_user, trigger):
        abort(403)
    expected_version = form_int(request.form.get("version"))
    if expected_version is None:
        abort(400)
    target_value = request.form.get("destino", "")
    target = ReturnTarget(target_value) if target_value in set(ReturnTarget) else None
    observations = request.form.get("observaciones", "")[:20000]
    try:
        fire_action(database, ruta, trigger, actor=current_user,
                    expected_version=expected_version, observations=observations,
                    target=target, rubric=rubrics.from_form(request.form))
    except (GuardFailed, InvalidInput) as refused:
        # Back to the page with what is missing, keeping what the person wrote.
        database.rollback()
        reasons = (refused.reasons if isinstance(refused, GuardFailed) else
                   [message for messages in refused.errors.values() for message in messages])
        message = (refused.message if isinstance(refused, GuardFailed) else
                   "Registre la rúbrica en la revisión del PMI antes de decidir.")
        return _render_detail(ruta, reasons=reasons, error_message=message,
                              posted_trigger=trigger, posted_observations=observations), 422
    database.commit()
    past = trigger.past_tense
    where = situation_of(database, ruta).label
    flash(f"Listo: {past[0].lower()}{past[1:]}. La Ruta quedó en «{where}».",
          "success")
    return redirect(url_for("rutas.detail", ruta_id=ruta.id))


@bp.post("/<int:ruta_id>/autoevaluacion/prorroga")
@roles_required(Role.ADMINISTRADOR)
def extend_window(ruta_id: int) -> Response | tuple[str, int]:
    """The administración gives this school more time to send its autoevaluación."""
    database = db_session()
    ruta = get_in_scope(database, current_user, Ruta, ruta_id)
    token = request.form.get(form_tokens.FIELD)
    values = {"until": request.form.get("until", "")[:40],
              "reason": request.form.get("reason", "")[:4000]}
    # A second post of the same form (a double click, «Atrás» and again) grants nothing more.
    if form_tokens.claim(database, token, user=current_actor()) is not None:
        database.rollback()
        flash("Esa prórroga ya se había concedido: el formulario llegó dos veces y quedó "
              "registrada una sola vez.", "info")
        return redirect(url_for("rutas.detail", ruta_id=ruta.id, _anchor="prorrogas-titulo"))
    try:
        extension = auto_window.extend_window(database, ruta, values["until"], values["reason"],
                                              actor=current_actor())
    except InvalidInput as invalid:
        database.rollback()
        return _render_detail(ruta, extension_errors=invalid.errors, extension_values=values,
                              extension_token=token), 422
    form_tokens.record(database, token, f"self_assessment_extension:{extension.id}")
    database.commit()
    flash(f"Listo: {ruta.school.name} puede enviar su autoevaluación hasta el "
          f"{fecha(extension.until)}. La prórroga quedó registrada con su motivo.", "success")
    return redirect(url_for("rutas.detail", ruta_id=ruta.id, _anchor="prorrogas-titulo"))


@bp.post("/<int:ruta_id>/tomar")
@roles_required(Role.REVISOR)
def take_over(ruta_id: int) -> Response | tuple[str, int]:
    """Another revisor takes the review over, with a reason (``workflow.pmi.takeover``)."""
    database = db_session()
    ruta = get_in_scope(database, current_user, Ruta, ruta_id)
    reason = request.form.get("motivo", "")[:takeover.MAX_REASON]
    previous = ruta.reviewer.name if ruta.reviewer is not None else ""
    try:
        row = takeover.take_over(database, ruta, reviewer=current_actor(), reason=reason,
                                 expected_version=form_int(request.form.get("version")) or 0)
    except InvalidInput as invalid:
        database.rollback()
        return _render_detail(ruta, takeover_errors=invalid.errors,
                              takeover_reason=reason), 422
    except StaleRuta as stale:
        database.rollback()
        database.expire_all()
        return _render_detail(ruta, takeover_errors={"": [stale.message]},
                              takeover_reason=reason), 409
    database.commit()
    if row is not None:
        log_event("takeover", actor=current_actor(), detail={"ruta_id": ruta.id})
    if row is None:
        flash("Usted ya tiene esta revisión: no cambió nada.", "info")
    else:
        flash(f"Listo: tomó la revisión de {previous}. Se le avisó por correo y quedó en la "
              "historia de la Ruta.", "success")
    return redirect(url_for("rutas.detail", ruta_id=ruta.id))
