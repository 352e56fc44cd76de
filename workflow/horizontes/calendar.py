"""The calendar of a horizon, edited by the Secretaría's administrator.

One calendar per (Secretaría, horizon): the last day of the first semana institucional of
each year, the PMI reporting deadline, the autoevaluación window, the follow-up checkpoints
and the lead times the reminder rules use. Its tables, and those of the reminders it drives,
are ``workflow.horizontes.models``'s; the reminder rules themselves live in
``workflow.correo.reminders``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy.orm import Session

from workflow.errors import InvalidInput
from workflow.horizontes.horizons import (
    chosen_horizon,
    ensure_horizon,
    horizon_starting,
    horizons_of,
)
from workflow.horizontes.models import (
    LEAD_TIMES,
    MAX_CHECKPOINT_NAME,
    FollowUpCheckpoint,
    HorizonCalendar,
    InstitutionalWeek,
)
from workflow.models import Secretaria, User, utcnow

LEAD_TIME_DEFAULTS: Final[dict[str, int]] = {name: default
                                              for name, _, default, _, _ in LEAD_TIMES}
ISO_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- reading ------------------------------------------------------------------------------


# A horizon is its calendar: these read the horizon rows ``workflow.horizontes.horizons``
# defines, under the names the calendar's callers use.
calendar_for = horizon_starting
calendars_of = horizons_of


def horizon_years(session: Session, actor: User, start_year: int) -> tuple[int, int]:
    """The horizon ``actor``'s Secretaría has starting in ``start_year``: (start, end).

    A horizon the Secretaría opened, or its current one; any other year is not found.
    """
    found = chosen_horizon(session, actor, start_year)
    return found.horizon_start_year, found.horizon_end_year


# --- editing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarData:
    """What the administrator typed, as text: parsing and validation happen here."""

    first_weeks: dict[int, str]
    pmi_deadline: str
    self_assessment_opens: str
    self_assessment_closes: str
    lead_times: dict[str, str]


@dataclass(frozen=True)
class CheckpointData:
    name: str
    due_on: str


def calendar_data(calendar: HorizonCalendar | None, years: range) -> CalendarData:
    """The form's starting values: the saved calendar, or blanks and default lead times."""
    if calendar is None:
        return CalendarData(first_weeks={year: "" for year in years}, pmi_deadline="",
                            self_assessment_opens="", self_assessment_closes="",
                            lead_times={name: str(value)
                                        for name, value in LEAD_TIME_DEFAULTS.items()})
    return CalendarData(
        first_weeks={year: (day.isoformat() if (day := calendar.first_week_end(year)) else "")
                     for year in years},
        pmi_deadline=_iso(calendar.pmi_deadline),
        self_assessment_opens=_iso(calendar.self_assessment_opens),
        self_assessment_closes=_iso(calendar.self_assessment_closes),
        lead_times={name: str(getattr(calendar, name)) for name in LEAD_TIME_DEFAULTS})


def _iso(day: date | None) -> str:
    return "" if day is None else day.isoformat()


def parse_day(text: str) -> date | None:
    """An ISO date (what ``<input type="date">`` sends), or None when it is not one."""
    text = text.strip()
    if not ISO_DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2024-02-30
        return None


def fecha_corta(day: date) -> str:
    """A date in Spanish without Babel (the domain does not format with the web layer)."""
    months = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
              "septiembre", "octubre", "noviembre", "diciembre"]
    return f"{day.day} de {months[day.month - 1]} de {day.year}"


def _required_day(errors: dict[str, list[str]], field: str, text: str,
                  label: str) -> date | None:
    if not text.strip():
        errors.setdefault(field, []).append(f"Escriba {label}.")
        return None
    return _optional_day(errors, field, text, label)


def _optional_day(errors: dict[str, list[str]], field: str, text: str,
                  label: str) -> date | None:
    """A date the administrador may leave blank until it is known (None then)."""
    if not text.strip():
        return None
    found = parse_day(text)
    if found is None:
        errors.setdefault(field, []).append(
            f"{label[0].upper()}{label[1:]} no es una fecha válida: use el formato "
            "año-mes-día, por ejemplo 2024-02-16.")
    return found


def _validate(data: CalendarData, start_year: int,
              end_year: int) -> tuple[dict[str, list[str]], dict[str, object]]:
    errors: dict[str, list[str]] = {}
    weeks: dict[int, date | None] = {}
    for year in sorted(set(data.first_weeks) - set(range(start_year, end_year + 1))):
        if data.first_weeks[year].strip():
            errors.setdefault(f"semana_{year}", []).append(
                f"El año {year} no pertenece al horizonte {start_year}–{end_year}.")
    for year in range(start_year, end_year + 1):
        field = f"semana_{year}"
        weeks[year] = None
        found = _optional_day(errors, field, data.first_weeks.get(year, ""),
                              f"el último día de la primera semana institucional de {year}")
        if found is None:
            continue
        if found.year != year:
            errors.setdefault(field, []).append(
                f"El último día de la primera semana institucional de {year} debe caer en "
                f"{year}; escribió {fecha_corta(found)}.")
            continue
        weeks[year] = found

    deadline = _optional_day(errors, "pmi_deadline", data.pmi_deadline,
                             "la fecha límite de reporte del PMI")
    opens = _optional_day(errors, "self_assessment_opens", data.self_assessment_opens,
                          "la fecha en que abre la autoevaluación")
    closes = _optional_day(errors, "self_assessment_closes", data.self_assessment_closes,
                           "la fecha en que cierra la autoevaluación")
    if data.self_assessment_opens.strip() and not data.self_assessment_closes.strip():
        errors.setdefault("self_assessment_closes", []).append(
            "Escriba también la fecha en que cierra la autoevaluación: la ventana tiene "
            "inicio y fin.")
    elif data.self_assessment_closes.strip() and not data.self_assessment_opens.strip():
        errors.setdefault("self_assessment_opens", []).append(
            "Escriba también la fecha en que abre la autoevaluación: la ventana tiene "
            "inicio y fin.")
    first_week = weeks.get(start_year)
    if deadline is not None:
        if deadline.year > end_year or deadline.year < start_year:
            errors.setdefault("pmi_deadline", []).append(
                f"La fecha límite del PMI debe caer dentro del horizonte "
                f"{start_year}–{end_year}.")
        elif first_week is not None and deadline <= first_week:
            errors.setdefault("pmi_deadline", []).append(
                f"La fecha límite del PMI ({fecha_corta(deadline)}) debe ser posterior al "
                f"último día de la primera semana institucional de {start_year} "
                f"({fecha_corta(first_week)}): la Circular 0488 pide el reporte después "
                "de esa semana.")
    if opens is not None and opens.year < start_year - 1:
        errors.setdefault("self_assessment_opens", []).append(
            f"La autoevaluación no puede abrir antes de {start_year - 1}.")
    if opens is not None and closes is not None and closes < opens:
        errors.setdefault("self_assessment_closes", []).append(
            f"La autoevaluación no puede cerrar ({fecha_corta(closes)}) antes de abrir "
            f"({fecha_corta(opens)}).")
    elif closes is not None and deadline is not None and closes > deadline:
        errors.setdefault("self_assessment_closes", []).append(
            f"La autoevaluación debe cerrar ({fecha_corta(closes)}) a más tardar en la fecha "
            f"límite del PMI ({fecha_corta(deadline)}): el PMI parte de ella.")

    leads: dict[str, int] = {}
    for name, label, _, low, high in LEAD_TIMES:
        raw = data.lead_times.get(name, "").strip()
        try:
            value = int(raw)
        except ValueError:
            errors.setdefault(name, []).append(f"«{label}» debe ser un número entero de días.")
            continue
        if not low <= value <= high:
            errors.setdefault(name, []).append(
                f"«{label}» debe estar entre {low} y {high} días.")
            continue
        leads[name] = value
    values: dict[str, object] = {"weeks": weeks, "pmi_deadline": deadline,
                                 "self_assessment_opens": opens,
                                 "self_assessment_closes": closes, **leads}
    return errors, values


def save_calendar(session: Session, *, secretaria: Secretaria, horizon_start_year: int,
                  horizon_end_year: int, data: CalendarData, actor: User | None,
                  now: datetime | None = None) -> HorizonCalendar:
    """Create or update the calendar of a horizon. Flushes; raises ``InvalidInput``.

    Checkpoints are kept; one that no longer falls inside the new dates is reported as an
    error rather than silently moved.
    """
    errors, values = _validate(data, horizon_start_year, horizon_end_year)
    calendar = calendar_for(session, secretaria.id, horizon_start_year)
    deadline = values["pmi_deadline"]
    if calendar is not None and isinstance(deadline, date):
        early = [point for point in calendar.checkpoints if point.due_on <= deadline]
        if early:
            errors.setdefault("pmi_deadline", []).append(
                "La fecha límite del PMI debe ser anterior a todos los cortes de seguimiento; "
                f"«{early[0].name}» es el {fecha_corta(early[0].due_on)}.")
    weeks: dict[int, date | None] = values["weeks"]  # type: ignore[assignment]
    for point in calendar.checkpoints if calendar is not None else ():
        week = weeks.get(point.due_on.year)
        if week is not None and point.due_on <= week:
            errors.setdefault(f"semana_{point.due_on.year}", []).append(
                f"El corte «{point.name}» ({fecha_corta(point.due_on)}) quedaría antes del "
                f"fin de la primera semana institucional de {point.due_on.year}: mueva el "
                "corte o revise la fecha.")
    if errors:
        raise InvalidInput(errors)
    if calendar is None:
        calendar = ensure_horizon(session, secretaria, horizon_start_year, horizon_end_year,
                                  actor=actor, now=now)
    by_year = {week.year: week for week in calendar.weeks}
    for year, last_day in weeks.items():
        if last_day is None:
            if year in by_year:  # cleared: not known after all
                calendar.weeks.remove(by_year[year])
        elif year in by_year:
            by_year[year].last_day = last_day
        else:
            calendar.weeks.append(InstitutionalWeek(year=year, last_day=last_day))
    for name in ("pmi_deadline", "self_assessment_opens", "self_assessment_closes",
                 *LEAD_TIME_DEFAULTS):
        setattr(calendar, name, values[name])
    calendar.updated_at = now or utcnow()
    calendar.updated_by_id = None if actor is None else actor.id
    session.flush()
    return calendar


def _validate_checkpoint(session: Session, calendar: HorizonCalendar, data: CheckpointData,
                         checkpoint: FollowUpCheckpoint | None) -> tuple[str, date]:
    errors: dict[str, list[str]] = {}
    name = " ".join(data.name.split())
    if not name:
        errors["name"] = ["Escriba el nombre del corte, por ejemplo «Seguimiento 1er semestre "
                          f"{calendar.horizon_start_year}»."]
    elif len(name) > MAX_CHECKPOINT_NAME:
        errors["name"] = [f"El nombre del corte admite hasta {MAX_CHECKPOINT_NAME} caracteres."]
    elif any(other.name.lower() == name.lower() and other is not checkpoint
             for other in calendar.checkpoints):
        errors["name"] = [f"Ya hay un corte llamado «{name}» en este horizonte."]
    due_on = _required_day(errors, "due_on", data.due_on, "la fecha del corte")
    if due_on is not None:
        if not calendar.horizon_start_year <= due_on.year <= calendar.horizon_end_year:
            errors.setdefault("due_on", []).append(
                f"La fecha del corte debe caer dentro del horizonte {calendar.horizon_label}.")
        elif calendar.pmi_deadline is not None and due_on <= calendar.pmi_deadline:
            errors.setdefault("due_on", []).append(
                f"Un corte de seguimiento ({fecha_corta(due_on)}) debe ser posterior a la "
                f"fecha límite del PMI ({fecha_corta(calendar.pmi_deadline)}).")
        elif (week := calendar.first_week_end(due_on.year)) is not None and due_on <= week:
            errors.setdefault("due_on", []).append(
                f"Un corte de seguimiento ({fecha_corta(due_on)}) debe ser posterior a la "
                f"primera semana institucional de {due_on.year}, que termina el "
                f"{fecha_corta(week)}.")
    if errors:
        raise InvalidInput(errors)
    assert due_on is not None
    return name, due_on


def add_checkpoint(session: Session, calendar: HorizonCalendar,
                   data: CheckpointData) -> FollowUpCheckpoint:
    """Add a follow-up checkpoint to the calendar. Flushes; raises ``InvalidInput``."""
    name, due_on = _validate_checkpoint(session, calendar, data, None)
    checkpoint = FollowUpCheckpoint(name=name, due_on=due_on)
    calendar.checkpoints.append(checkpoint)
    session.flush()
    return checkpoint


def update_checkpoint(session: Session, checkpoint: FollowUpCheckpoint,
                      data: CheckpointData) -> FollowUpCheckpoint:
    """Rename or move a checkpoint. Its reminders already sent stay sent (keyed by id)."""
    name, due_on = _validate_checkpoint(session, checkpoint.calendar, data, checkpoint)
    checkpoint.name = name
    checkpoint.due_on = due_on
    session.flush()
    return checkpoint
