"""The Secretaría's horizons (/admin/horizontes): the list, and opening the next one.

Everyone of the Secretaría reads the list (the calendar and consolidado of each horizon are a
click away); only the administración opens a horizon (403 for the others). Opening is
idempotent through a form token: a double click opens one horizon.

Also ``horizon_choices``, the (horizon, estado) pairs every Secretaría-wide page's horizon
selector lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from blueprints.access import SECRETARIA_ROLES, form_int, roles_required
from blueprints.access import current_actor as _actor
from ruta.db import db_session
from workflow import form_tokens
from workflow.catalogo.catalog import current_catalog_id
from workflow.catalogo.models import Catalog, RuleSet
from workflow.errors import InvalidInput
from workflow.horizontes.horizons import (
    MissingDates,
    bogota_day,
    chosen_horizon,
    horizon_state,
    horizons_of,
    missing_dates,
    open_horizon,
)
from workflow.horizontes.models import HorizonCalendar
from workflow.models import Ruta, User
from workflow.roles import Role
from workflow.scoping import scoped

bp = Blueprint("horizontes", __name__, url_prefix="/admin/horizontes")

CONFLICT = ("Otra persona abrió un horizonte al mismo tiempo. Revise la lista y vuelva a "
            "intentarlo.")


def horizon_choices(session: Session, actor: User) -> list[tuple[HorizonCalendar, str]]:
    """Every horizon of ``actor``'s Secretaría with its estado, oldest first."""
    secretaria = actor.secretaria
    return [(horizon, horizon_state(horizon, secretaria))
            for horizon in horizons_of(session, secretaria.id)]


@dataclass(frozen=True)
class HorizonRow:
    horizon: HorizonCalendar
    estado: str
    catalog: Catalog | None
    rule_set: RuleSet | None
    rutas: int
    missing: list[MissingDates]


def _rows(session: Session, actor: User) -> list[HorizonRow]:
    chosen_horizon(session, actor, None)  # the current one is listed even before it is stored
    today = bogota_day(datetime.now(UTC))
    counts = dict(session.execute(
        scoped(actor, Ruta).with_only_columns(Ruta.horizon_start_year, func.count(Ruta.id))
        .group_by(Ruta.horizon_start_year)).all())
    return [HorizonRow(
        horizon, estado,
        session.get(Catalog, horizon.catalog_id) if horizon.catalog_id else None,
        session.get(RuleSet, horizon.rule_set_id) if horizon.rule_set_id else None,
        counts.get(horizon.horizon_start_year, 0),
        # A finished horizon sends nothing more: what its calendar lacks no longer matters.
        [] if estado == "terminado" else missing_dates(horizon, today))
        for horizon, estado in horizon_choices(session, actor)]


def _catalogs(session: Session, actor: User) -> list[Catalog]:
    """The instrument versions the Secretaría may open a horizon with."""
    return list(session.scalars(select(Catalog).where(or_(
        Catalog.secretaria_id.is_(None), Catalog.secretaria_id == actor.secretaria_id))
        .order_by(Catalog.year.desc(), Catalog.slug)))


def _render(*, values: dict[str, str] | None = None,
            errors: dict[str, list[str]] | None = None, token: str | None = None) -> str:
    session = db_session()
    actor = _actor()
    rows = _rows(session, actor)
    if values is None:
        latest = max((row.horizon.horizon_end_year for row in rows),
                     default=actor.secretaria.horizon_start_year - 1)
        current = current_catalog_id(session, actor.secretaria_id)
        values = {"start_year": str(latest + 1),
                  "catalog_id": "" if current is None else str(current)}
    return render_template(
        "horizontes/index.html", rows=rows, values=values, errors=errors or {},
        catalogs=_catalogs(session, actor), years=actor.secretaria.horizon_years,
        form_token=token, is_admin=actor.role is Role.ADMINISTRADOR)


@bp.get("/")
@roles_required(*SECRETARIA_ROLES)
def index() -> str:
    return _render()


@bp.post("/")
@roles_required(Role.ADMINISTRADOR)
def open_next() -> Response | tuple[str, int]:
    session = db_session()
    actor = _actor()
    values = {"start_year": request.form.get("start_year", "")[:20],
              "catalog_id": request.form.get("catalog_id", "")[:20]}
    token = request.form.get(form_tokens.FIELD)
    earlier = form_tokens.claim(session, token, user=actor)
    if earlier is not None:  # the same form twice (a double click): one horizon
        session.rollback()
        flash("Ese formulario ya se había enviado: el horizonte se abrió una sola vez.", "info")
        return redirect(url_for("horizontes.index"), code=303)
    catalog_id = form_int(values["catalog_id"]) if values["catalog_id"] else None
    try:
        chosen_horizon(session, actor, None)  # stored first: the new one must not overlap it
        if values["catalog_id"] and catalog_id is None:
            raise InvalidInput({"catalog_id": [
                "Elija una versión del instrumento de la lista."]})
        if catalog_id is not None and catalog_id not in {
                item.id for item in _catalogs(session, actor)}:
            raise InvalidInput({"catalog_id": [
                "Elija una versión del instrumento de la lista."]})
        horizon = open_horizon(session, actor.secretaria, values["start_year"], actor=actor,
                               catalog_id=catalog_id)
        form_tokens.record(session, token, f"horizon:{horizon.id}")
        session.commit()
    except InvalidInput as error:
        session.rollback()
        return _render(values=values, errors=error.errors, token=token), 422
    except IntegrityError:
        session.rollback()
        return _render(values=values, errors={"": [CONFLICT]}, token=token), 422
    flash(f"Se abrió el horizonte {horizon.horizon_label}. Ingrese las fechas de su calendario "
          "a medida que se publiquen.", "success")
    return redirect(url_for("calendario.edit", start_year=horizon.horizon_start_year),
                    code=303)
