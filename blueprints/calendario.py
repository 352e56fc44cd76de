"""The calendar of a horizon, edited by the Secretaría's administrator.

Per year of the horizon: the first semana institucional and the follow-up checkpoints (and,
for the first year, the PMI deadline and the autoevaluación window), entered when each year's
school calendar is published; the page says what each year lacks and since when. Also the
reminder lead times. Any horizon of the Secretaría (``?horizonte=`` on /admin/calendario/,
the current one by default). Only administrators (403 for everyone else). Also gives
templates ``reminders_for(ruta)``: the Ruta page lists the reminders queued for it without
its view knowing about them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from blueprints.access import current_actor as _actor
from blueprints.access import roles_required
from blueprints.horizontes import horizon_choices
from ruta.db import db_session
from workflow.catalogo.models import Catalog
from workflow.consolidado.consolidate import parse_horizon
from workflow.correo import reminders
from workflow.errors import InvalidInput, NotFound
from workflow.horizontes import calendar as calendars
from workflow.horizontes.calendar import CalendarData, CheckpointData
from workflow.horizontes.horizons import bogota_day, horizon_state, missing_dates
from workflow.horizontes.models import LEAD_TIMES, FollowUpCheckpoint, HorizonCalendar, ReminderSent
from workflow.models import Ruta, User
from workflow.roles import Role
from workflow.scoping import get_in_scope, not_found_message
from workflow.seguimiento import checkpoints

bp = Blueprint("calendario", __name__, url_prefix="/admin/calendario")

CONFLICT = ("Otra persona guardó el calendario al mismo tiempo. Revise los datos actuales y "
            "vuelva a intentarlo.")


@bp.app_template_global("reminders_for")
def reminders_for_template(ruta: Ruta) -> list[ReminderSent]:
    """The reminders queued for ``ruta`` (the page already checked the user may see it)."""
    return reminders.reminders_for(db_session(), ruta)


def _calendar_form(form: MultiDict[str, str], years: range) -> CalendarData:
    return CalendarData(
        first_weeks={year: form.get(f"semana_{year}", "")[:40] for year in years},
        pmi_deadline=form.get("pmi_deadline", "")[:40],
        self_assessment_opens=form.get("self_assessment_opens", "")[:40],
        self_assessment_closes=form.get("self_assessment_closes", "")[:40],
        lead_times={name: form.get(name, "")[:20] for name, *_ in LEAD_TIMES})


def _checkpoint_form(form: MultiDict[str, str]) -> CheckpointData:
    return CheckpointData(name=form.get("name", "")[:1000], due_on=form.get("due_on", "")[:40])


def _render(start_year: int, end_year: int, *, data: CalendarData | None = None,
            errors: dict[str, list[str]] | None = None,
            checkpoint_errors: dict[str, list[str]] | None = None,
            checkpoint_target: int | str | None = None,
            checkpoint_data: CheckpointData | None = None) -> str:
    database = db_session()
    secretaria = current_user.secretaria
    calendar = calendars.calendar_for(database, secretaria.id, start_year)
    years = range(start_year, end_year + 1)
    today = bogota_day(datetime.now(UTC))
    return render_template(
        "calendario/edit.html", calendar=calendar, start_year=start_year, end_year=end_year,
        years=years, data=data or calendars.calendar_data(calendar, years),
        errors=errors or {}, checkpoint_errors=checkpoint_errors or {},
        checkpoint_target=checkpoint_target, checkpoint_data=checkpoint_data,
        lead_times=LEAD_TIMES, rules=reminders.RULES,
        horizons=horizon_choices(database, current_user),
        estado=horizon_state(calendar, secretaria) if calendar is not None else "",
        catalog=database.get(Catalog, calendar.catalog_id)
        if calendar is not None and calendar.catalog_id else None,
        missing=missing_dates(calendar, today) if calendar is not None else [],
        updated_by=database.get(User, calendar.updated_by_id)
        if calendar is not None and calendar.updated_by_id else None)


@bp.get("/", endpoint="index")
@roles_required(Role.ADMINISTRADOR)
def index() -> Response:
    """The calendar of the horizon the selector names (``?horizonte=``), or the current one."""
    chosen = parse_horizon(request.args.get("horizonte"))
    return redirect(url_for("calendario.edit",
                            start_year=chosen or current_user.secretaria.horizon_start_year))


@bp.route("/<int:start_year>", methods=["GET", "POST"])
@roles_required(Role.ADMINISTRADOR)
def edit(start_year: int) -> Response | str | tuple[str, int]:
    database = db_session()
    start_year, end_year = calendars.horizon_years(database, current_user, start_year)
    if request.method == "GET":
        return _render(start_year, end_year)
    data = _calendar_form(request.form, range(start_year, end_year + 1))
    actor = _actor()
    try:
        calendars.save_calendar(database, secretaria=actor.secretaria,
                                horizon_start_year=start_year, horizon_end_year=end_year,
                                data=data, actor=actor)
        database.commit()
    except InvalidInput as error:
        database.rollback()
        return _render(start_year, end_year, data=data, errors=error.errors), 422
    except IntegrityError:
        database.rollback()
        return _render(start_year, end_year, data=data, errors={"": [CONFLICT]}), 422
    flash(f"Se guardó el calendario del horizonte {start_year}–{end_year}. Los recordatorios "
          "usan las nuevas fechas desde la próxima pasada diaria.", "success")
    return redirect(url_for("calendario.edit", start_year=start_year))


def _calendar_or_refuse(start_year: int) -> HorizonCalendar | None:
    return calendars.calendar_for(db_session(), current_user.secretaria_id, start_year)


@bp.post("/<int:start_year>/cortes")
@roles_required(Role.ADMINISTRADOR)
def add_checkpoint(start_year: int) -> Response | str | tuple[str, int]:
    database = db_session()
    start_year, end_year = calendars.horizon_years(database, current_user, start_year)
    data = _checkpoint_form(request.form)
    calendar = _calendar_or_refuse(start_year)
    if calendar is None:
        return _render(start_year, end_year, checkpoint_target="nuevo", checkpoint_data=data,
                       checkpoint_errors={"": [
                           "Guarde primero las fechas del calendario; después agregue los "
                           "cortes de seguimiento."]}), 422
    try:
        checkpoint = calendars.add_checkpoint(database, calendar, data)
        database.commit()
    except InvalidInput as error:
        database.rollback()
        return _render(start_year, end_year, checkpoint_target="nuevo", checkpoint_data=data,
                       checkpoint_errors=error.errors), 422
    except IntegrityError:
        database.rollback()
        return _render(start_year, end_year, checkpoint_target="nuevo", checkpoint_data=data,
                       checkpoint_errors={"": [CONFLICT]}), 422
    flash(f"Se agregó el corte «{checkpoint.name}».", "success")
    return redirect(url_for("calendario.edit", start_year=start_year) + "#cortes")


def _load_checkpoint(start_year: int, checkpoint_id: int) -> tuple[FollowUpCheckpoint, int]:
    database = db_session()
    start_year, end_year = calendars.horizon_years(database, current_user, start_year)
    checkpoint = get_in_scope(database, current_user, FollowUpCheckpoint, checkpoint_id)
    if checkpoint.calendar.horizon_start_year != start_year:
        raise NotFound(not_found_message(FollowUpCheckpoint))  # another horizon's
    return checkpoint, end_year


@bp.post("/<int:start_year>/cortes/<int:checkpoint_id>")
@roles_required(Role.ADMINISTRADOR)
def update_checkpoint(start_year: int, checkpoint_id: int) -> Response | str | tuple[str, int]:
    database = db_session()
    checkpoint, end_year = _load_checkpoint(start_year, checkpoint_id)
    data = _checkpoint_form(request.form)
    try:
        calendars.update_checkpoint(database, checkpoint, data)
        database.commit()
    except (InvalidInput, IntegrityError) as error:
        database.rollback()
        errors = error.errors if isinstance(error, InvalidInput) else {"": [CONFLICT]}
        return _render(start_year, end_year, checkpoint_target=checkpoint_id,
                       checkpoint_data=data, checkpoint_errors=errors), 422
    flash(f"Se guardó el corte «{checkpoint.name}».", "success")
    return redirect(url_for("calendario.edit", start_year=start_year) + "#cortes")


@bp.post("/<int:start_year>/cortes/<int:checkpoint_id>/eliminar")
@roles_required(Role.ADMINISTRADOR)
def delete_checkpoint(start_year: int, checkpoint_id: int) -> Response | tuple[str, int]:
    database = db_session()
    checkpoint, _ = _load_checkpoint(start_year, checkpoint_id)
    name = checkpoint.name
    try:
        checkpoints.delete_checkpoint(database, checkpoint)
        database.commit()
    except InvalidInput as error:
        database.rollback()
        checkpoint, end_year = _load_checkpoint(start_year, checkpoint_id)
        current = CheckpointData(checkpoint.name, checkpoint.due_on.isoformat())
        return _render(start_year, end_year, checkpoint_target=checkpoint_id,
                       checkpoint_data=current, checkpoint_errors=error.errors), 422
    flash(f"Se eliminó el corte «{name}». Los recordatorios que ya causó siguen en el "
          "historial de cada Ruta.", "success")
    return redirect(url_for("calendario.edit", start_year=start_year) + "#cortes")
