"""A Ruta's page (stepper, explanation, actions, history) and the one endpoint for its actions.

Rector, team, revisores, administración and consulta all see the same page for a Ruta in
their scope; the machine and the role table decide which action buttons it shows.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from blueprints.access import ALL_ROLES, form_int, roles_required
from ruta.db import db_session
from workflow import services
from workflow.errors import GuardFailed
from workflow.models import Ruta
from workflow.scoping import get_in_scope
from workflow.states import ReturnTarget, Trigger

bp = Blueprint("rutas", __name__, url_prefix="/rutas")


def _render_detail(ruta: Ruta, **context: object) -> str:
    perspective = 0 if current_user.role.belongs_to_school else 1
    return render_template(
        "rutas/detail.html", ruta=ruta, perspective=perspective,
        actions=services.available_actions(current_user, ruta), ReturnTarget=ReturnTarget,
        history=list(reversed(ruta.transitions)), **context,
    )


@bp.get("/<int:ruta_id>")
@roles_required(*ALL_ROLES)
def detail(ruta_id: int) -> str:
    return _render_detail(get_in_scope(db_session(), current_user, Ruta, ruta_id))


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
        services.fire_action(database, ruta, trigger, actor=current_user,
                             expected_version=expected_version, observations=observations,
                             target=target)
    except GuardFailed as refused:
        # Back to the page with what is missing, keeping what the person wrote.
        database.rollback()
        return _render_detail(ruta, reasons=refused.reasons, error_message=refused.message,
                              posted_trigger=trigger, posted_observations=observations), 422
    database.commit()
    past = trigger.past_tense
    flash(f"Listo: {past[0].lower()}{past[1:]}. La Ruta quedó en «{ruta.state.label}».",
          "success")
    return redirect(url_for("rutas.detail", ruta_id=ruta.id))
