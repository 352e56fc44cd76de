"""The tables of a horizon's calendar and of the reminders it drives.

``calendars`` (one per Secretaría and horizon), ``institutional_weeks`` and
``follow_up_checkpoints`` (with who may see a checkpoint), and the tables the reminder rules of
``workflow.correo.reminders`` write (``reminders_sent``, ``job_runs``): one import registers
every table of this feature with ``Base.metadata``. Editing a calendar is
``workflow.horizontes.calendar``'s.
"""

from __future__ import annotations

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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    ("late_join_grace_days", "Días de plazo para el PMI de un colegio que llega con el horizonte "
     "en curso, contados desde que su rector(a) activa la cuenta", 30, 1, 180),
)

MAX_CHECKPOINT_NAME = 120


class ReminderRule(StrEnum):
    """The reminder rules, by stable name (stored in ``reminders_sent.rule``)."""

    PMI_PENDIENTE = "pmi_pendiente"
    PMI_PROXIMO = "pmi_proximo"
    PMI_VENCIDO = "pmi_vencido"
    DEVUELTA_SIN_REENVIAR = "devuelta_sin_reenviar"
    REVISION_PENDIENTE = "revision_pendiente"
    CORTE_PROXIMO = "corte_proximo"
    CORTE_VENCIDO = "corte_vencido"
    SEGUIMIENTO_ANUAL = "seguimiento_anual"

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
    ReminderRule.SEGUIMIENTO_ANUAL: "Nuevo año de seguimiento",
}


def _lead_time_checks() -> list[CheckConstraint]:
    return [CheckConstraint(f"{name} BETWEEN {low} AND {high}", name=name)
            for name, _, _, low, high in LEAD_TIMES]


class HorizonCalendar(Base):
    """One horizon of one Secretaría (2024–2026 for Ibagué's first one) and its calendar.

    A row is the horizon itself: opened by the administrador (``workflow.horizontes.horizons``),
    pinned to the instrument version (catalog) and rule set its Rutas use, readable forever.
    Its dates are entered when known: each year's semana institucional, the PMI deadline and
    the autoevaluación window of the first year, the checkpoints of each year. A date not yet
    entered is NULL and the reminders that need it wait for it.
    """

    __tablename__ = "calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"), index=True)
    horizon_start_year: Mapped[int] = mapped_column(Integer)
    horizon_end_year: Mapped[int] = mapped_column(Integer)
    # The instrument version and rule set of the horizon: its Rutas are opened with them, and
    # its perfil and consolidado read them, whatever the Secretaría's current instrument is.
    catalog_id: Mapped[int | None] = mapped_column(ForeignKey("catalogs.id"))
    rule_set_id: Mapped[int | None] = mapped_column(ForeignKey("rule_sets.id"))
    # The date the Secretaría expects every PMI by (Circular 0488: after the first semana
    # institucional of the horizon's first year). NULL until entered.
    pmi_deadline: Mapped[date | None] = mapped_column(Date)
    self_assessment_opens: Mapped[date | None] = mapped_column(Date)
    self_assessment_closes: Mapped[date | None] = mapped_column(Date)
    pmi_lead_days: Mapped[int] = mapped_column(Integer, default=7)
    returned_after_days: Mapped[int] = mapped_column(Integer, default=10)
    review_wait_days: Mapped[int] = mapped_column(Integer, default=5)
    checkpoint_lead_days: Mapped[int] = mapped_column(Integer, default=7)
    checkpoint_grace_days: Mapped[int] = mapped_column(Integer, default=3)
    late_join_grace_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
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

    def checkpoints_of(self, year: int) -> list[FollowUpCheckpoint]:
        return [point for point in self.checkpoints if point.due_on.year == year]

    def year_is_set(self, year: int) -> bool:
        """Whether ``year`` has the dates its reminders need: its semana institucional (and,
        for the first year, the PMI deadline)."""
        if self.first_week_end(year) is None:
            return False
        return year != self.horizon_start_year or self.pmi_deadline is not None


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


class SelfAssessmentExtension(Base):
    """More time for one school's autoevaluación, granted by the administrador with a reason.

    Every grant is a row (the log); the latest one for a Ruta is in force.
    """

    __tablename__ = "self_assessment_extensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    until: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)

    ruta: Mapped[Ruta] = relationship()
    granted_by: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint("length(trim(reason)) > 0", name="reason_not_blank"),
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
    # Looked up by ``uq_reminders_sent_occurrence``, which begins with it.
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"))
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


class SchedulerHeartbeat(Base):
    """The one scheduler's sign of life: written before every job run and every 30 s
    (``jobs.scheduler``); what /salud and /metricas read to tell a scheduler that stopped."""

    __tablename__ = "scheduler_heartbeats"

    # Always 1: there is one scheduler per database.
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime]
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
