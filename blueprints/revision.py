"""The Secretaría's queue of Rutas of one horizon (the current one unless ``?horizonte=``
names another), filterable by state and school, paginated."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user
from sqlalchemy import func, or_

from blueprints.access import SECRETARIA_ROLES, form_int, roles_required
from blueprints.horizontes import horizon_choices
from ruta.db import db_session
from workflow.consolidado.consolidate import parse_horizon
from workflow.horizontes.horizons import chosen_horizon
from workflow.models import Ruta, School
from workflow.scoping import scoped
from workflow.situation import situations_of
from workflow.states import STATE_ORDER, State

bp = Blueprint("revision", __name__, url_prefix="/revision")


@bp.get("/")
@roles_required(*SECRETARIA_ROLES)
def queue() -> str:
    database = db_session()
    state_value = request.args.get("estado", "")
    state = State(state_value) if state_value in set(State) else None
    school_query = request.args.get("colegio", "").strip()[:100]
    page_size = current_app.config["QUEUE_PAGE_SIZE"]
    horizon = chosen_horizon(database, current_user, parse_horizon(request.args.get("horizonte")))

    in_scope = scoped(current_user, Ruta).where(  # joined with School
        Ruta.horizon_start_year == horizon.horizon_start_year)
    counts = dict(database.execute(
        in_scope.with_only_columns(Ruta.state, func.count(Ruta.id)).group_by(Ruta.state)
    ).all())

    statement = in_scope
    if state is not None:
        statement = statement.where(Ruta.state == state)
    if school_query:
        statement = statement.where(or_(
            func.lower(School.name).contains(school_query.lower(), autoescape=True),
            School.dane_code.contains(school_query, autoescape=True)))
    total = database.scalar(
        statement.with_only_columns(func.count(Ruta.id)).order_by(None)) or 0
    pages = max((total + page_size - 1) // page_size, 1)
    page = min(max(form_int(request.args.get("pagina")) or 1, 1), pages)
    # Oldest first: whoever has waited longest is served first.
    rutas = database.scalars(
        statement.order_by(Ruta.state_changed_at.asc(), Ruta.id)
        .limit(page_size).offset((page - 1) * page_size)).all()
    return render_template(
        "revision/queue.html", rutas=rutas, state=state, school_query=school_query,
        page=page, pages=pages, total=total, counts=counts, states=STATE_ORDER,
        situations=situations_of(database, rutas), horizon=horizon,
        horizons=horizon_choices(database, current_user),
        horizonte=request.args.get("horizonte") and horizon.horizon_start_year,
    )
