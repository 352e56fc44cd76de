"""The Secretaría's administration: schools and users. Consulta sees the lists read-only."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from blueprints.access import SECRETARIA_ROLES, roles_required
from ruta.db import db_session
from workflow.models import School, User
from workflow.scoping import scoped

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/instituciones")
@roles_required(*SECRETARIA_ROLES)
def schools() -> str:
    rows = db_session().scalars(scoped(current_user, School).order_by(School.name)).all()
    return render_template("admin/schools.html", schools=rows)


@bp.get("/usuarios")
@roles_required(*SECRETARIA_ROLES)
def users() -> str:
    rows = db_session().scalars(scoped(current_user, User).order_by(User.name)).all()
    return render_template("admin/users.html", users=rows)
