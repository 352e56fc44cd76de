"""The school's home: the rector and the team land on their current Ruta."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from blueprints.access import roles_required
from blueprints.landing import school_landing
from ruta.db import db_session
from workflow.models import Ruta
from workflow.roles import Role
from workflow.scoping import scoped

bp = Blueprint("escuela", __name__, url_prefix="/escuela")


@bp.get("/")
@roles_required(Role.RECTOR, Role.EQUIPO)
def home() -> Response | str:
    rutas = db_session().scalars(
        scoped(current_user, Ruta).order_by(Ruta.horizon_start_year.desc())).all()
    landing = school_landing(rutas)  # the rule sign-in uses too (one redirect to here)
    if landing is not None:
        return redirect(url_for("rutas.detail", ruta_id=landing.id))
    return render_template("escuela/home.html", rutas=rutas)
