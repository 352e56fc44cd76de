"""The school's home: the rector and the team land on their current Ruta."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from blueprints.access import roles_required
from ruta.db import db_session
from workflow.models import Ruta
from workflow.roles import Role
from workflow.scoping import scoped
from workflow.states import State

bp = Blueprint("escuela", __name__, url_prefix="/escuela")


@bp.get("/")
@roles_required(Role.RECTOR, Role.EQUIPO)
def home() -> Response | str:
    rutas = db_session().scalars(
        scoped(current_user, Ruta).order_by(Ruta.horizon_start_year.desc())).all()
    # Closed Rutas of earlier horizons stay listed, but the school lands on the one in course.
    in_course = [ruta for ruta in rutas if ruta.state is not State.CERRADO]
    landing = in_course if len(in_course) == 1 else rutas if len(rutas) == 1 else []
    if landing:
        return redirect(url_for("rutas.detail", ruta_id=landing[0].id))
    return render_template("escuela/home.html", rutas=rutas)
