"""The calendar of a horizon, edited by the Secretaría's administrator, and its tables.

One calendar per (Secretaría, horizon): the last day of the first semana institucional of
each year, the PMI reporting deadline, the autoevaluación window, the follow-up checkpoints
and the lead times the reminder rules use. The reminder rules themselves live in
``workflow.correo.reminders``; the tables they write (``reminders_sent``, ``job_runs``) are declared
here so that one import registers every table of this feature with ``Base.metadata``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    false,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from workflow.errors import InvalidInput, NotFound
from workflow.models import Base, Ruta, Secretaria, User, utcnow
from workflow.scoping import scope_rule

# Lead times the administrator may choose, in days: (column, Spanish label, default, min, max).
LEAD_TIMES: Final[tuple[tuple[str, str, int, int, int], ...]] = (
    ("pmi_lead_days", "Días antes del plazo del PMI para el segundo recordatorio", 7, 1, 60),
    ("returned_after_days", "Días sin reenviar una Ruta devuelta antes de recordarlo", 10, 1, 90),
    ("review_wait_days", "Días que un PMI puede esperar a un revisor antes de recordarlo",
     5, 1, 90),
    ("checkpoint_lead_days", "Días antes de cada corte de seguimiento para recordarlo", 7, 1, 60),
    ("checkpoint_grace_days", "Días después de un corte antes de avisar que falta el informe",
     3, 1, 60),
)
LEAD_TIME_DEFAULTS: Final[dict[str, int]] = {name: default
                                              for name, _, default, _, _ in LEAD_TIMES}

MAX_CHECKPOINT_NAME = 120
ISO_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReminderRule(StrEnum):
    """The reminder rules, by stable name (stored in ``reminders_sent.rule``)."""

    PMI_PENDIENTE = "pmi_pendiente"
    PMI_PROXIMO = "pmi_proximo"
    PMI_VENCIDO = "pmi_vencido"
    DEVUELTA_SIN_REENVIAR = "devuelta_sin_reenviar"
    REVISION_PENDIENTE = "revision_pendiente"
    CORTE_PROXIMO = "corte_proximo"
    CORTE_VENCIDO = "corte_vencido"

    @property
    def label(self) -> str:
        return RULE_LABELS[self]


RULE_LABELS: Final[dict[ReminderRule, str]] = {
    ReminderRule.PMI_PENDIENTE: "PMI pendiente de reporte",
    ReminderRule.PMI_PROXIMO: "Plazo del PMI próximo",
    ReminderRule.PMI_VENCIDO: "Plazo del PMI vencido",
    ReminderRule.DEVUELTA_SIN_REENVIAR: "Ruta devuelta sin reenviar",
    ReminderRule.REVISION_PENDIENTE: "PMI esperando revisión",
    ReminderRule.CORTE_PROXIMO: "Corte de seguimiento próximo",
    ReminderRule.CORTE_VENCIDO: "Informe de seguimiento pendiente",
}


def _lead_time_checks() -> list[CheckConstraint]:
    return [CheckConstraint(f"{name} BETWEEN {low} AND {high}", name=name)
            for name, _, _, low, high in LEAD_TIMES]


class HorizonCalendar(Base):
    """The dates of one horizon of one Secretaría (2024–2026 for Ibagué's first one)."""

    __tablename__ = "calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"), index=True)
    horizon_start_year: Mapped[int] = mapped_column(Integer)
    horizon_end_year: Mapped[int] = mapped_column(Integer)
    # The date the Secretaría expects every PMI by (Circular 0488: after the first semana
    # institucional of the horizon's first year).
    pmi_deadline: Mapped[date] = mapped_column(Date)
    self_assessment_opens: Mapped[date] = mapped_column(Date)
    self_assessment_closes: Mapped[date] = mapped_column(Date)
    pmi_lead_days: Mapped[int] = mapped_column(Integer, default=7)
    returned_after_days: Mapped[int] = mapped_column(Integer, default=10)
    review_wait_days: Mapped[int] = mapped_column(Integer, default=5)
    checkpoint_lead_days: Mapped[int] = mapped_column(Integer, default=7)
    checkpoint_grace_days: Mapped[int] = mapped_column(Integer, default=3)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    secretaria: Mapped[Secretaria] = relationship()
    weeks: Mapped[list[InstitutionalWeek]] = relationship(
        back_populates="calendar", order_by=lambda: InstitutionalWeek.year,
        cascade="all, delete-orphan")
    checkpoints: Mapped[list[FollowUpCheckpoint]] = relationship(
        back_populates="calendar",
        order_by=lambda: [FollowUpCheckpoint.due_on, FollowUpCheckpoint.id],
        cascade="all, delete-orphan")

    __table_args__ = (
        UniqueConstraint("secretaria_id", "horizon_start_year",
                         name="uq_calendars_secretaria_horizon"),
        CheckConstraint("horizon_end_year >= horizon_start_year", name="horizon_order"),
        CheckConstraint("self_assessment_opens <= self_assessment_closes",
                        name="self_assessment_window"),
        CheckConstraint("self_assessment_closes <= pmi_deadline",
                        name="self_assessment_before_pmi"),
        *_lead_time_checks(),
    )

    @property
    def horizon_label(self) -> str:
        return f"{self.horizon_start_year}–{self.horizon_end_year}"

    @property
    def years(self) -> range:
        return range(self.horizon_start_year, self.horizon_end_year + 1)

    def first_week_end(self, year: int) -> date | None:
        """The last day of the first semana institucional of ``year``, if it is set."""
        return next((week.last_day for week in self.weeks if week.year == year), None)


class InstitutionalWeek(Base):
    """The last day of the first semana institucional of one year of the horizon."""

    __tablename__ = "institutional_weeks"

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    last_day: Mapped[date] = mapped_column(Date)

    calendar: Mapped[HorizonCalendar] = relationship(back_populates="weeks")

    __table_args__ = (
        UniqueConstraint("calendar_id", "year", name="uq_institutional_weeks_calendar_year"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
    )


class FollowUpCheckpoint(Base):
    """A seguimiento checkpoint ("Seguimiento 1er semestre 2024"): a report is due by then.

    Reminders about a checkpoint are keyed by its id, so ids are never reused
    (AUTOINCREMENT on SQLite, a sequence on PostgreSQL): a deleted checkpoint's reminders
    must not silence a new one.
    """

    __tablename__ = "follow_up_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id"), index=True)
    name: Mapped[str] = mapped_column(String(MAX_CHECKPOINT_NAME))
    due_on: Mapped[date] = mapped_column(Date)

    calendar: Mapped[HorizonCalendar] = relationship(back_populates="checkpoints")

    __table_args__ = (
        UniqueConstraint("calendar_id", "name", name="uq_follow_up_checkpoints_calendar_name"),
        CheckConstraint("length(trim(name)) > 0", name="name_not_blank"),
        {"sqlite_autoincrement": True},
    )


@scope_rule(FollowUpCheckpoint, not_found="No encontramos ese corte de seguimiento.")
def _checkpoints(actor: User, statement: Select[Any]) -> Select[Any]:
    if actor.role.belongs_to_school:
        return statement.where(false())  # the Secretaría's business, not a school's
    return (statement.join(FollowUpCheckpoint.calendar)
            .where(HorizonCalendar.secretaria_id == actor.secretaria_id))


class ReminderSent(Base):
    """A reminder queued for a Ruta: at most one per (Ruta, rule, occurrence), by constraint.

    Written in the same transaction as its outbox row. ``occurrence_key`` says which
    occurrence of the rule it was: the horizon ("horizonte-2024"), an ISO week ("2024-W08"),
    a checkpoint ("corte-3"), a return (its log row, "devolucion-41") or a wait (the state
    and the moment the Ruta entered it, "pmi_formulado-20240201T150000").
    """

    __tablename__ = "reminders_sent"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    occurrence_key: Mapped[str] = mapped_column(String(60))
    # The day (America/Bogota) of the pass that queued it.
    day: Mapped[date] = mapped_column(Date)
    # What the reminder said, in one Spanish sentence, and to whom: shown on the Ruta's page.
    summary: Mapped[str] = mapped_column(String(300))
    recipients: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ruta: Mapped[Ruta] = relationship()

    __table_args__ = (
        UniqueConstraint("ruta_id", "rule", "occurrence_key",
                         name="uq_reminders_sent_occurrence"),
        CheckConstraint("rule IN ({})".format(", ".join(f"'{rule.value}'"
                                                         for rule in ReminderRule)),
                        name="known_rule"),
    )

    @property
    def rule_label(self) -> str:
        return ReminderRule(self.rule).label


class JobRun(Base):
    """One run of a daily job for one day (America/Bogota): the day's pass runs once."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    queued: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("job", "day", name="uq_job_runs_job_day"),
    )


# --- reading ------------------------------------------------------------------------------


def calendar_for(session: Session, secretaria_id: int,
                 horizon_start_year: int) -> HorizonCalendar | None:
    return session.scalar(select(HorizonCalendar).where(
        HorizonCalendar.secretaria_id == secretaria_id,
        HorizonCalendar.horizon_start_year == horizon_start_year))


def calendars_of(session: Session, secretaria_id: int) -> list[HorizonCalendar]:
    return list(session.scalars(select(HorizonCalendar).where(
        HorizonCalendar.secretaria_id == secretaria_id)
        .order_by(HorizonCalendar.horizon_start_year)))


def horizon_years(session: Session, actor: User, start_year: int) -> tuple[int, int]:
    """The horizon ``actor``'s Secretaría has starting in ``start_year``: (start, end).

    The Secretaría's current horizon, or one it already has a calendar for; any other
    year is not found.
    """
    secretaria = actor.secretaria
    existing = calendar_for(session, secretaria.id, start_year)
    if existing is not None:
        return existing.horizon_start_year, existing.horizon_end_year
    if start_year == secretaria.horizon_start_year:
        return secretaria.horizon_start_year, secretaria.horizon_end_year
    raise NotFound("No hay un horizonte que empiece en ese año.")


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
        pmi_deadline=calendar.pmi_deadline.isoformat(),
        self_assessment_opens=calendar.self_assessment_opens.isoformat(),
        self_assessment_closes=calendar.self_assessment_closes.isoformat(),
        lead_times={name: str(getattr(calendar, name)) for name in LEAD_TIME_DEFAULTS})


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
    found = parse_day(text)
    if found is None:
        errors.setdefault(field, []).append(
            f"{label[0].upper()}{label[1:]} no es una fecha válida: use el formato "
            "año-mes-día, por ejemplo 2024-02-16.")
    return found


def _validate(data: CalendarData, start_year: int,
              end_year: int) -> tuple[dict[str, list[str]], dict[str, object]]:
    errors: dict[str, list[str]] = {}
    weeks: dict[int, date] = {}
    for year in range(start_year, end_year + 1):
        field = f"semana_{year}"
        found = _required_day(errors, field, data.first_weeks.get(year, ""),
                              f"el último día de la primera semana institucional de {year}")
        if found is None:
            continue
        if found.year != year:
            errors.setdefault(field, []).append(
                f"El último día de la primera semana institucional de {year} debe caer en "
                f"{year}; escribió {fecha_corta(found)}.")
            continue
        weeks[year] = found

    deadline = _required_day(errors, "pmi_deadline", data.pmi_deadline,
                             "la fecha límite de reporte del PMI")
    opens = _required_day(errors, "self_assessment_opens", data.self_assessment_opens,
                          "la fecha en que abre la autoevaluación")
    closes = _required_day(errors, "self_assessment_closes", data.self_assessment_closes,
                           "la fecha en que cierra la autoevaluación")
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
    if errors:
        raise InvalidInput(errors)
    if calendar is None:
        calendar = HorizonCalendar(secretaria_id=secretaria.id,
                                   horizon_start_year=horizon_start_year)
        session.add(calendar)
    calendar.horizon_end_year = horizon_end_year
    weeks: dict[int, date] = values["weeks"]  # type: ignore[assignment]
    by_year = {week.year: week for week in calendar.weeks}
    for year, last_day in weeks.items():
        if year in by_year:
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
        elif due_on <= calendar.pmi_deadline:
            errors.setdefault("due_on", []).append(
                f"Un corte de seguimiento ({fecha_corta(due_on)}) debe ser posterior a la "
                f"fecha límite del PMI ({fecha_corta(calendar.pmi_deadline)}).")
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
