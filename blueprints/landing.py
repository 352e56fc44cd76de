"""Where each person lands: their role's home, computed once so that signing in is one
redirect (on a slow link each redirect costs a round trip of about a second)."""

from __future__ import annotations

from collections.abc import Sequence

from flask import url_for

from ruta.db import db_session
from workflow.models import Ruta, User
from workflow.roles import Role
from workflow.scoping import scoped
from workflow.states import State

HOME_BY_ROLE = {
    Role.RECTOR: "escuela.home",
    Role.EQUIPO: "escuela.home",
    Role.REVISOR: "revision.queue",
    Role.CONSULTA: "revision.queue",
    Role.ADMINISTRADOR: "admin.schools",
}


def school_landing(rutas: Sequence[Ruta]) -> Ruta | None:
    """The Ruta a school lands on: the one in course, or its only one; None when the school
    must choose (the list of its Rutas)."""
    # Closed Rutas of earlier horizons stay listed, but the school lands on the one in course.
    in_course = [ruta for ruta in rutas if ruta.state is not State.CERRADO]
    landing = in_course if len(in_course) == 1 else rutas if len(rutas) == 1 else []
    return landing[0] if landing else None


def home_url(user: User) -> str:
    """The URL of ``user``'s home page, after any landing redirect it would make."""
    if user.role in (Role.RECTOR, Role.EQUIPO):
        rutas = db_session().scalars(
            scoped(user, Ruta).order_by(Ruta.horizon_start_year.desc())).all()
        ruta = school_landing(rutas)
        if ruta is not None:
            return url_for("rutas.detail", ruta_id=ruta.id)
    return url_for(HOME_BY_ROLE[user.role])
