"""Seguimiento periódico: the school's report at each checkpoint of its horizon's calendar.

When an approved plan starts (its start date is the earliest ``fecha_inicio`` of its
actividades; the daily pass fires ``iniciar_seguimiento`` then, or a revisor does it by hand)
the Ruta is in ``seguimiento``. For every checkpoint of the calendar of the Ruta's Secretaría
and horizon (``FollowUpCheckpoint``) the school writes one report (UNIQUE (ruta, checkpoint)):

- per actividad of the approved plan: % de avance (0–100), status (no iniciada, en curso,
  cumplida, cancelada), difficulties, resources actually used (text and pesos) and the reasons
  for what was not done;
- per indicador: the value measured;
- evidence files (``workflow.evidence``, same types, limits and quota as the autoevaluación);
- the general difficulties of the period.

Life of a report::

    borrador ──(rector: enviar)──▶ enviado ──(revisor: reconocer)──▶ reconocido
                                     │  ▲
                   (revisor: devolver│  │(rector answers every observation and resends)
                    with ≥ 1 obs.)   ▼  │
                                   devuelto

The rector and the equipo de gestión fill the report while it is ``borrador`` or ``devuelto``;
only the rector sends it (the equipo never submits, as everywhere in the Ruta). Observations
are itemized as in the PMI review: attached to an actividad, an indicador or the report as a
whole; drafts go to the school when the revisor returns the report; the rector answers each;
the revisor marks each resolved or still open, and acknowledgement is refused while any
observation is not resolved.

Which checkpoints can be reported: those whose date has arrived and the next one (a school
may report early, when its period's work is done; it cannot report a semester that has not
begun). The Ruta must be in ``seguimiento``.

**Late**: a report is late when the Bogotá day of its first submission is after the
checkpoint's date (sent at 23:59 of the checkpoint day is on time; at 00:00:30 the next day
it is late). A resubmission after a return does not change it.

**Semáforo** of an actividad at a checkpoint (``semaforo``):

- planned % = the elapsed share of the actividad's ``fecha_inicio``..``fecha_fin`` at the
  checkpoint's date (0 before it starts, 100 from its end on; an actividad of one day is 100
  from that day);
- *cancelada*: shown apart, never green nor red;
- *verde*: cumplida, or actual ≥ planned − 10 points;
- *amarillo*: actual ≥ planned − 25 points (behind by more than 10, at most 25);
- *rojo*: behind by more than 25 points;
- *sin cronograma*: the actividad has no dates, so nothing is planned to compare with.

Reasons for what was not done are required when the actividad is cancelada, when it is no
iniciada although it should have started (planned > 0), and when it is behind schedule
(amarillo or rojo).

Services flush, never commit; the views commit once. Concurrent changes to one report are
caught by its version (``version_id_col``) and a row lock: the loser gets ``StaleReport`` (409).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum as PyEnum
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.exc import StaleDataError

from workflow import observations as life
from workflow import outbox
from workflow.dates import BOGOTA
from workflow.errors import DomainError, Forbidden, GuardFailed, InvalidInput, NotEditable, NotFound
from workflow.horizontes.calendar import (
    FollowUpCheckpoint,
    HorizonCalendar,
    calendar_for,
    fecha_corta,
)
from workflow.models import Base, Ruta, School, User, str_enum, utcnow
from workflow.observations import ObservationStatus
from workflow.pmi.models import Actividad, Indicador, Meta
from workflow.roles import Role
from workflow.states import State

MAX_TEXT = 5000
# Points behind the planned progress still shown green, and the limit of yellow.
GREEN_TOLERANCE: Final = 10.0
YELLOW_TOLERANCE: Final = 25.0
# Rutas per query in the batched readers (IN lists stay small on both databases).
BATCH: Final = 500
REPORTING_STATES: Final = frozenset({State.SEGUIMIENTO})


# --- enumerations -------------------------------------------------------------------------


class ReportStatus(PyEnum):
    BORRADOR = "borrador"
    ENVIADO = "enviado"
    RECONOCIDO = "reconocido"
    DEVUELTO = "devuelto"

    @property
    def label(self) -> str:
        return REPORT_STATUS_LABELS[self]


REPORT_STATUS_LABELS: Final = {
    ReportStatus.BORRADOR: "En preparación",
    ReportStatus.ENVIADO: "Enviado a la Secretaría",
    ReportStatus.RECONOCIDO: "Recibido por la Secretaría",
    ReportStatus.DEVUELTO: "Devuelto con observaciones",
}
# Sent at least once: the school has reported this checkpoint (``has_report``).
SUBMITTED: Final = frozenset({ReportStatus.ENVIADO, ReportStatus.RECONOCIDO,
                              ReportStatus.DEVUELTO})
EDITABLE: Final = frozenset({ReportStatus.BORRADOR, ReportStatus.DEVUELTO})


class LineStatus(PyEnum):
    NO_INICIADA = "no_iniciada"
    EN_CURSO = "en_curso"
    CUMPLIDA = "cumplida"
    CANCELADA = "cancelada"

    @property
    def label(self) -> str:
        return LINE_STATUS_LABELS[self]


LINE_STATUS_LABELS: Final = {
    LineStatus.NO_INICIADA: "No iniciada",
    LineStatus.EN_CURSO: "En curso",
    LineStatus.CUMPLIDA: "Cumplida",
    LineStatus.CANCELADA: "Cancelada",
}


class Semaforo(StrEnum):
    VERDE = "verde"
    AMARILLO = "amarillo"
    ROJO = "rojo"
    CANCELADA = "cancelada"
    SIN_CRONOGRAMA = "sin_cronograma"

    @property
    def label(self) -> str:
        return SEMAFORO_LABELS[self]


SEMAFORO_LABELS: Final = {
    Semaforo.VERDE: "Verde: al día",
    Semaforo.AMARILLO: "Amarillo: algo atrasada",
    Semaforo.ROJO: "Rojo: atrasada",
    Semaforo.CANCELADA: "Cancelada",
    Semaforo.SIN_CRONOGRAMA: "Sin cronograma",
}
SEMAFORO_RULE: Final = (
    "El avance esperado es la parte del tiempo de la actividad (de su fecha de inicio a su "
    "fecha de terminación) transcurrida en la fecha del corte. Verde: cumplida, o con un "
    f"avance de hasta {GREEN_TOLERANCE:g} puntos por debajo del esperado. Amarillo: entre "
    f"{GREEN_TOLERANCE:g} y {YELLOW_TOLERANCE:g} puntos por debajo. Rojo: más de "
    f"{YELLOW_TOLERANCE:g} puntos por debajo. Las actividades canceladas se muestran aparte.")


# The life of an observation is the PMI review's (``workflow.review``), reused as is.


# --- models -------------------------------------------------------------------------------


class FollowUpReport(Base):
    """One Ruta's report for one checkpoint."""

    __tablename__ = "follow_up_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("follow_up_checkpoints.id"),
                                               index=True)
    status: Mapped[ReportStatus] = mapped_column(
        str_enum(ReportStatus, "follow_up_report_status"), default=ReportStatus.BORRADOR)
    dificultades: Mapped[str] = mapped_column(Text, default="")
    # The first submission decides lateness; the last one is when it was resent.
    submitted_at: Mapped[datetime | None]
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_submitted_at: Mapped[datetime | None]
    submissions: Mapped[int] = mapped_column(Integer, default=0)
    returned_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledgement: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    ruta: Mapped[Ruta] = relationship()
    checkpoint: Mapped[FollowUpCheckpoint] = relationship()
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    lines: Mapped[list[FollowUpLine]] = relationship(
        back_populates="report", order_by="FollowUpLine.actividad_id",
        cascade="all, delete-orphan")
    values: Mapped[list[IndicatorValue]] = relationship(
        back_populates="report", order_by="IndicatorValue.indicador_id",
        cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("ruta_id", "checkpoint_id", name="uq_follow_up_reports_ruta_checkpoint"),
        CheckConstraint("status = 'borrador' OR submitted_at IS NOT NULL",
                        name="sent_has_time"),
        CheckConstraint("submissions >= 0", name="submissions_not_negative"),
    )

    @property
    def late(self) -> bool:
        return is_late(self.submitted_at, self.checkpoint.due_on)

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE


class FollowUpLine(Base):
    """What the school reports of one actividad at one checkpoint."""

    __tablename__ = "follow_up_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("follow_up_reports.id"), index=True)
    actividad_id: Mapped[int] = mapped_column(ForeignKey("pmi_actividades.id"), index=True)
    avance: Mapped[float] = mapped_column(Float)
    status: Mapped[LineStatus] = mapped_column(str_enum(LineStatus, "follow_up_line_status"))
    dificultades: Mapped[str] = mapped_column(Text, default="")
    recursos: Mapped[str] = mapped_column(Text, default="")
    # Pesos colombianos actually spent; NULL when not reported.
    costo: Mapped[int | None] = mapped_column(BigInteger)
    razones: Mapped[str] = mapped_column(Text, default="")

    report: Mapped[FollowUpReport] = relationship(back_populates="lines")
    actividad: Mapped[Actividad] = relationship()

    __table_args__ = (
        UniqueConstraint("report_id", "actividad_id", name="uq_follow_up_lines_report_actividad"),
        CheckConstraint("avance >= 0 AND avance <= 100", name="avance_range"),
        CheckConstraint("costo IS NULL OR costo >= 0", name="costo_positive"),
    )


class IndicatorValue(Base):
    """The value of one indicador measured for one report."""

    __tablename__ = "follow_up_indicator_values"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("follow_up_reports.id"), index=True)
    indicador_id: Mapped[int] = mapped_column(ForeignKey("pmi_indicadores.id"), index=True)
    valor: Mapped[float | None] = mapped_column(Float)
    comentario: Mapped[str] = mapped_column(Text, default="")

    report: Mapped[FollowUpReport] = relationship(back_populates="values")
    indicador: Mapped[Indicador] = relationship()

    __table_args__ = (
        UniqueConstraint("report_id", "indicador_id",
                         name="uq_follow_up_indicator_values_report_indicador"),
    )


class FollowUpObservation(Base):
    """The revisor's itemized observation on a report (an actividad, an indicador, or all)."""

    __tablename__ = "follow_up_observations"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("follow_up_reports.id"), index=True)
    # "informe", "actividad:<id>" or "indicador:<id>".
    element: Mapped[str] = mapped_column(String(40))
    element_label: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[ObservationStatus] = mapped_column(
        str_enum(ObservationStatus, "follow_up_observation_status"),
        default=ObservationStatus.BORRADOR)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    returned_at: Mapped[datetime | None]
    response: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime | None]
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    judged_at: Mapped[datetime | None]
    judged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    author: Mapped[User] = relationship(foreign_keys=[author_id])
    responded_by: Mapped[User | None] = relationship(foreign_keys=[responded_by_id])

    __table_args__ = (
        CheckConstraint("length(trim(text)) > 0", name="text_present"),
        CheckConstraint("status = 'borrador' OR returned_at IS NOT NULL", name="sent_has_time"),
        CheckConstraint("status <> 'respondida' OR response IS NOT NULL",
                        name="answered_has_response"),
    )

    @property
    def is_open(self) -> bool:
        return self.status is not ObservationStatus.RESUELTA


class StaleReport(DomainError):
    """Someone else changed the report since the user loaded it."""

    status = 409

    def __init__(self) -> None:
        super().__init__("Este informe de seguimiento cambió mientras usted lo tenía abierto "
                         "(otra persona lo guardó, lo envió o lo revisó). Recargue la página "
                         "para ver cómo quedó antes de volver a intentarlo.")


# --- the rules, as pure functions ---------------------------------------------------------


def bogota_day(moment: datetime) -> date:
    return moment.astimezone(BOGOTA).date()


def is_late(submitted_at: datetime | None, due_on: date) -> bool:
    """Sent after the checkpoint's day ended in Bogotá. Not sent yet: not late (yet)."""
    return submitted_at is not None and bogota_day(submitted_at) > due_on


def planned_percent(inicio: date | None, fin: date | None, at: date) -> float | None:
    """The share of the actividad's time elapsed at ``at``, 0–100; None without dates."""
    if inicio is None or fin is None:
        return None
    if at < inicio:
        return 0.0
    if at >= fin:
        return 100.0
    return round(100.0 * (at - inicio).days / (fin - inicio).days, 1)


def semaforo(avance: float, status: LineStatus, planned: float | None) -> Semaforo:
    """The light of one actividad (rule in the module's docstring)."""
    if status is LineStatus.CANCELADA:
        return Semaforo.CANCELADA
    if status is LineStatus.CUMPLIDA:
        return Semaforo.VERDE
    if planned is None:
        return Semaforo.SIN_CRONOGRAMA
    if avance >= planned - GREEN_TOLERANCE:
        return Semaforo.VERDE
    if avance >= planned - YELLOW_TOLERANCE:
        return Semaforo.AMARILLO
    return Semaforo.ROJO


def reason_required(avance: float, status: LineStatus, planned: float | None) -> bool:
    """Whether the school must say why (see the module's docstring)."""
    if status is LineStatus.CANCELADA:
        return True
    if status is LineStatus.NO_INICIADA and (planned or 0) > 0:
        return True
    return semaforo(avance, status, planned) in (Semaforo.AMARILLO, Semaforo.ROJO)


def reportable_ids(checkpoints: Sequence[FollowUpCheckpoint], today: date) -> set[int]:
    """Checkpoints whose date has arrived, and the next one."""
    ordered = sorted(checkpoints, key=lambda point: (point.due_on, point.id))
    found = {point.id for point in ordered if point.due_on <= today}
    upcoming = next((point for point in ordered if point.due_on > today), None)
    if upcoming is not None:
        found.add(upcoming.id)
    return found


# --- reading ------------------------------------------------------------------------------


def plan_start(session: Session, ruta_id: int) -> date | None:
    """The plan's start date: the earliest ``fecha_inicio`` of its actividades."""
    return session.scalar(select(func.min(Actividad.fecha_inicio))
                          .where(Actividad.ruta_id == ruta_id))


def plan_starts(session: Session, ruta_ids: Sequence[int]) -> dict[int, date]:
    found: dict[int, date] = {}
    for chunk in _chunks(ruta_ids):
        for ruta_id, start in session.execute(
                select(Actividad.ruta_id, func.min(Actividad.fecha_inicio))
                .where(Actividad.ruta_id.in_(chunk), Actividad.fecha_inicio.is_not(None))
                .group_by(Actividad.ruta_id)):
            found[ruta_id] = start
    return found


def rutas_due_to_start(session: Session, today: date) -> list[int]:
    """Approved Rutas whose plan has started by ``today``: the daily pass starts them."""
    starts = (select(Actividad.ruta_id, func.min(Actividad.fecha_inicio).label("start"))
              .group_by(Actividad.ruta_id).subquery())
    return list(session.scalars(
        select(Ruta.id).join(starts, starts.c.ruta_id == Ruta.id)
        .where(Ruta.state == State.APROBADO, starts.c.start <= today).order_by(Ruta.id)))


def calendar_of(session: Session, ruta: Ruta) -> HorizonCalendar | None:
    return calendar_for(session, ruta.school.secretaria_id, ruta.horizon_start_year)


def checkpoints_of(session: Session, ruta: Ruta) -> list[FollowUpCheckpoint]:
    calendar = calendar_of(session, ruta)
    return list(calendar.checkpoints) if calendar is not None else []


def actividades(session: Session, ruta: Ruta) -> list[Actividad]:
    """The plan's actividades, in the plan's order (by meta, then as written)."""
    return list(session.scalars(select(Actividad).where(Actividad.ruta_id == ruta.id)
                                .order_by(Actividad.meta_id, Actividad.id)))


def indicadores(session: Session, ruta: Ruta) -> list[Indicador]:
    return list(session.scalars(select(Indicador).where(Indicador.ruta_id == ruta.id)
                                .order_by(Indicador.meta_id, Indicador.id)))


def report_for(session: Session, ruta_id: int, checkpoint_id: int) -> FollowUpReport | None:
    return session.scalar(select(FollowUpReport).where(
        FollowUpReport.ruta_id == ruta_id, FollowUpReport.checkpoint_id == checkpoint_id))


def has_report(session: Session, ruta_id: int, checkpoint_id: int) -> bool:
    """Whether the Ruta reported the checkpoint: a report sent at least once (sent,
    acknowledged, or returned for corrections) counts; a draft does not."""
    return session.scalar(select(FollowUpReport.id).where(
        FollowUpReport.ruta_id == ruta_id, FollowUpReport.checkpoint_id == checkpoint_id,
        FollowUpReport.status.in_(list(SUBMITTED)))) is not None


def reported_ruta_ids(session: Session, checkpoint_id: int) -> set[int]:
    """The Rutas that reported ``checkpoint_id`` (by ``has_report``'s rule), in one query."""
    return set(session.scalars(select(FollowUpReport.ruta_id).where(
        FollowUpReport.checkpoint_id == checkpoint_id,
        FollowUpReport.status.in_(list(SUBMITTED)))))


def get_report(session: Session, ruta: Ruta, report_id: int) -> FollowUpReport:
    """A report of ``ruta`` (already loaded in the actor's scope); 404 for any other."""
    found = session.get(FollowUpReport, report_id)
    if found is None or found.ruta_id != ruta.id:
        raise NotFound("No encontramos ese informe de seguimiento.")
    return found


@dataclass(frozen=True)
class CheckpointRow:
    """One checkpoint as the Ruta page lists it."""

    checkpoint: FollowUpCheckpoint
    report: FollowUpReport | None
    reportable: bool
    # The date has passed and the school has not sent its report.
    missing: bool

    @property
    def status_label(self) -> str:
        if self.report is not None:
            label = self.report.status.label
            return f"{label} (tarde)" if self.report.late else label
        if self.missing:
            return "Sin informe (vencido)"
        return "Sin informe" if self.reportable else "Todavía no se informa"


def checkpoint_rows(session: Session, ruta: Ruta, today: date) -> list[CheckpointRow]:
    points = checkpoints_of(session, ruta)
    reports = {report.checkpoint_id: report for report in session.scalars(
        select(FollowUpReport).where(FollowUpReport.ruta_id == ruta.id))}
    allowed = reportable_ids(points, today)
    rows = []
    for point in points:
        report = reports.get(point.id)
        sent = report is not None and report.status in SUBMITTED
        rows.append(CheckpointRow(
            checkpoint=point, report=report,
            reportable=point.id in allowed and ruta.state in REPORTING_STATES,
            missing=ruta.state in REPORTING_STATES and point.due_on < today and not sent))
    return rows


@dataclass(frozen=True)
class LineView:
    """An actividad of the plan with what the report says of it (``line`` None: nothing yet)."""

    actividad: Actividad
    label: str
    line: FollowUpLine | None
    planned: float | None

    @property
    def light(self) -> Semaforo | None:
        if self.line is None:
            return None
        return semaforo(self.line.avance, self.line.status, self.planned)


def actividad_labels(session: Session, ruta: Ruta) -> dict[str, str]:
    """"Actividad 1.1.2" and "Indicador 1.1.1", as the PMI numbers them."""
    from workflow.pmi.plan import element_labels, plan_content

    return element_labels(plan_content(session, ruta))


def line_views(session: Session, report: FollowUpReport,
               labels: Mapping[str, str] | None = None) -> list[LineView]:
    labels = labels if labels is not None else actividad_labels(session, report.ruta)
    lines = {line.actividad_id: line for line in report.lines}
    due_on = report.checkpoint.due_on
    return [LineView(actividad=row, label=labels.get(f"actividad:{row.id}", "Actividad"),
                     line=lines.get(row.id),
                     planned=planned_percent(row.fecha_inicio, row.fecha_fin, due_on))
            for row in actividades(session, report.ruta)]


def observations(session: Session, report: FollowUpReport) -> list[FollowUpObservation]:
    return list(session.scalars(select(FollowUpObservation)
                                .where(FollowUpObservation.report_id == report.id)
                                .order_by(FollowUpObservation.id)))


def report_files(session: Session, report: FollowUpReport) -> list[Any]:
    from workflow.evidencias.storage import EvidenceFile

    return list(session.scalars(select(EvidenceFile)
                                .where(EvidenceFile.follow_up_report_id == report.id)
                                .order_by(EvidenceFile.id)))


# --- who may do what ----------------------------------------------------------------------


def is_rector_of(actor: User, ruta: Ruta) -> bool:
    return actor.active and actor.role is Role.RECTOR and actor.school_id == ruta.school_id


def is_school_editor(actor: User, ruta: Ruta) -> bool:
    """The rector and the equipo de gestión of the Ruta's school fill the report."""
    return (actor.active and actor.role in (Role.RECTOR, Role.EQUIPO)
            and actor.school_id == ruta.school_id)


def may_edit(actor: User, report: FollowUpReport) -> bool:
    return (is_school_editor(actor, report.ruta) and report.status in EDITABLE
            and report.ruta.state in REPORTING_STATES)


def may_submit(actor: User, report: FollowUpReport) -> bool:
    return may_edit(actor, report) and is_rector_of(actor, report.ruta)


def may_review(actor: User, report: FollowUpReport) -> bool:
    return (actor.active and actor.role is Role.REVISOR
            and report.status is ReportStatus.ENVIADO
            and report.ruta.state in REPORTING_STATES)


def _lock(session: Session, report: FollowUpReport, expected_version: int | None) -> None:
    """Lock the report's row (PostgreSQL) and reload it; a changed version is a conflict."""
    session.scalars(select(FollowUpReport).where(FollowUpReport.id == report.id)
                    .with_for_update().execution_options(populate_existing=True)).one()
    if expected_version is not None and report.version != expected_version:
        raise StaleReport()


def require_editable(session: Session, report: FollowUpReport, actor: User,
                     expected_version: int | None = None) -> None:
    """The actor may change the report's content now (also used for its evidence files)."""
    if not is_school_editor(actor, report.ruta):
        raise Forbidden("El informe de seguimiento lo diligencian el rector o la rectora y el "
                        "equipo de gestión de la institución.")
    _lock(session, report, expected_version)
    if report.ruta.state not in REPORTING_STATES:
        raise NotEditable("Los informes de seguimiento se diligencian mientras la Ruta está en "
                          "«Seguimiento periódico».")
    if report.status not in EDITABLE:
        raise NotEditable(f"Este informe ya fue enviado a la Secretaría («{report.status.label}»)"
                          ": no se puede modificar. Si la Secretaría lo devuelve, podrá "
                          "corregirlo.")


def _require_reviewer(session: Session, report: FollowUpReport, actor: User,
                      expected_version: int | None = None) -> None:
    if not (actor.active and actor.role is Role.REVISOR):
        raise Forbidden("Solo los revisores de la Dirección de Calidad revisan los informes de "
                        "seguimiento.")
    _lock(session, report, expected_version)
    if report.ruta.state not in REPORTING_STATES or report.status is not ReportStatus.ENVIADO:
        raise NotEditable("Este informe no espera revisión: se revisa cuando la institución lo "
                          f"envía (está «{report.status.label}»).")


def _touch(session: Session, report: FollowUpReport, actor: User | None,
           now: datetime) -> None:
    report.updated_at = now
    report.updated_by_id = actor.id if actor else None
    try:
        session.flush()
    except StaleDataError:
        raise StaleReport() from None


# --- opening a report ---------------------------------------------------------------------


def checkpoint_for(session: Session, ruta: Ruta, checkpoint_id: int | None) -> FollowUpCheckpoint:
    """A checkpoint of the calendar of ``ruta``'s Secretaría and horizon; 404 for any other."""
    calendar = calendar_of(session, ruta)
    found = next((point for point in (calendar.checkpoints if calendar else [])
                  if point.id == checkpoint_id), None)
    if found is None:
        raise NotFound("No encontramos ese corte de seguimiento en el calendario de esta Ruta.")
    return found


def open_report(session: Session, ruta: Ruta, checkpoint_id: int | None, *, actor: User,
                today: date, now: datetime | None = None) -> FollowUpReport:
    """The report of ``ruta`` for the checkpoint, created as a draft when there is none.

    Idempotent, also when two people open it at once (INSERT … ON CONFLICT DO NOTHING).
    Flushes.
    """
    if not is_school_editor(actor, ruta):
        raise Forbidden("El informe de seguimiento lo diligencian el rector o la rectora y el "
                        "equipo de gestión de la institución.")
    checkpoint = checkpoint_for(session, ruta, checkpoint_id)
    existing = report_for(session, ruta.id, checkpoint.id)
    if existing is not None:
        return existing
    if ruta.state not in REPORTING_STATES:
        raise NotEditable("Los informes de seguimiento se diligencian cuando la Ruta está en "
                          f"«Seguimiento periódico»; ahora está en «{ruta.state.label}».")
    if checkpoint.id not in reportable_ids(checkpoints_of(session, ruta), today):
        raise NotEditable(
            f"El corte «{checkpoint.name}» es el {fecha_corta(checkpoint.due_on)}: todavía no "
            "se puede informar. Se informan los cortes cuya fecha llegó y el siguiente.")
    moment = now or utcnow()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    session.execute(insert(FollowUpReport).values(
        ruta_id=ruta.id, checkpoint_id=checkpoint.id, status=ReportStatus.BORRADOR,
        dificultades="", submissions=0, acknowledgement="", created_at=moment,
        updated_at=moment, updated_by_id=actor.id, version=1,
    ).on_conflict_do_nothing(index_elements=["ruta_id", "checkpoint_id"]))
    found = report_for(session, ruta.id, checkpoint.id)
    assert found is not None
    return found


# --- saving the form ----------------------------------------------------------------------

Form = Mapping[str, Any]
NUMBER = re.compile(r"^-?\d{1,12}([.,]\d{1,4})?$")


def _text(form: Form, name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()


class _Parser:
    def __init__(self, form: Form) -> None:
        self.form = form
        self.errors: dict[str, list[str]] = {}

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(self, name: str, label: str) -> str:
        value = _text(self.form, name)
        if len(value) > MAX_TEXT:
            self.error(name, f"{label[0].upper()}{label[1:]} no puede pasar de {MAX_TEXT} "
                             "caracteres.")
        return value

    def number(self, name: str, label: str) -> float | None:
        raw = _text(self.form, name).replace(" ", "").removesuffix("%")
        if not raw:
            return None
        if not NUMBER.match(raw):
            self.error(name, f"{label[0].upper()}{label[1:]} debe ser un número (por ejemplo, "
                             "60 o 12,5).")
            return None
        return float(raw.replace(",", "."))

    def pesos(self, name: str, label: str) -> int | None:
        raw = _text(self.form, name).replace("$", "").replace(" ", "").replace(".", "")
        if not raw:
            return None
        if not raw.isdigit() or len(raw) > 15:
            self.error(name, f"{label[0].upper()}{label[1:]} debe ser un valor en pesos, sin "
                             "decimales ni signo (por ejemplo, 2500000).")
            return None
        return int(raw)


def parse_line(parse: _Parser, actividad: Actividad, label: str,
               due_on: date) -> dict[str, Any] | None:
    """The values of one actividad's line, or None (errors recorded in ``parse``)."""
    key = actividad.id
    avance = parse.number(f"avance-{key}", f"el % de avance de la {label}")
    if avance is None and f"avance-{key}" not in parse.errors:
        parse.error(f"avance-{key}", f"Escriba el % de avance de la {label}: un número de 0 "
                                     "a 100.")
    elif avance is not None and not 0 <= avance <= 100:
        parse.error(f"avance-{key}", f"El % de avance de la {label} debe estar entre 0 y 100; "
                                     f"escribió {avance:g}.")
        avance = None
    raw_status = _text(parse.form, f"estado-{key}")
    status = next((item for item in LineStatus if item.value == raw_status), None)
    if status is None:
        parse.error(f"estado-{key}", f"Elija el estado de la {label}: no iniciada, en curso, "
                                     "cumplida o cancelada.")
    dificultades = parse.text(f"dificultades-{key}", f"las dificultades de la {label}")
    recursos = parse.text(f"recursos-{key}", f"los recursos usados en la {label}")
    costo = parse.pesos(f"costo-{key}", f"lo gastado en la {label}")
    razones = parse.text(f"razones-{key}", f"las razones de la {label}")
    if avance is None or status is None:
        return None
    if status is LineStatus.CUMPLIDA and avance < 100:
        parse.error(f"avance-{key}", f"La {label} está «cumplida»: su avance es 100 %. Si no "
                                     "terminó, márquela «en curso».")
        return None
    if status is LineStatus.NO_INICIADA and avance > 0:
        parse.error(f"avance-{key}", f"La {label} está «no iniciada» pero tiene {avance:g} % "
                                     "de avance: márquela «en curso» o deje el avance en 0.")
        return None
    planned = planned_percent(actividad.fecha_inicio, actividad.fecha_fin, due_on)
    if reason_required(avance, status, planned) and not razones:
        why = {LineStatus.CANCELADA: "está cancelada",
               LineStatus.NO_INICIADA: "no se ha iniciado y ya debía empezar"}.get(
            status, f"va atrasada (avance {avance:g} %, esperado {planned or 0:g} %)")
        parse.error(f"razones-{key}", f"La {label} {why}: explique por qué en «Razones de lo "
                                      "no realizado».")
        return None
    return {"avance": avance, "status": status, "dificultades": dificultades,
            "recursos": recursos, "costo": costo, "razones": razones}


def save_report(session: Session, report: FollowUpReport, form: Form, *, actor: User,
                expected_version: int | None, now: datetime | None = None) -> FollowUpReport:
    """Save the whole form: every actividad's line, every indicador's value, the general
    difficulties. All or nothing: ``InvalidInput`` before anything changes. Flushes."""
    require_editable(session, report, actor, expected_version)
    labels = actividad_labels(session, report.ruta)
    parse = _Parser(form)
    due_on = report.checkpoint.due_on
    parsed_lines = {}
    for actividad in actividades(session, report.ruta):
        label = labels.get(f"actividad:{actividad.id}", "actividad").lower()
        values = parse_line(parse, actividad, label, due_on)
        if values is not None:
            parsed_lines[actividad.id] = values
    parsed_values = {}
    for indicador in indicadores(session, report.ruta):
        label = labels.get(f"indicador:{indicador.id}", "indicador").lower()
        valor = parse.number(f"valor-{indicador.id}", f"el valor medido del {label}")
        comentario = parse.text(f"comentario-{indicador.id}", f"el comentario del {label}")
        parsed_values[indicador.id] = {"valor": valor, "comentario": comentario}
    dificultades = parse.text("dificultades", "las dificultades generales")
    if parse.errors:
        raise InvalidInput(parse.errors)
    lines = {line.actividad_id: line for line in report.lines}
    for actividad_id, values in parsed_lines.items():
        line = lines.get(actividad_id)
        if line is None:
            line = FollowUpLine(actividad_id=actividad_id, **values)
            report.lines.append(line)
        else:
            for name, value in values.items():
                setattr(line, name, value)
    stored = {value.indicador_id: value for value in report.values}
    for indicador_id, values in parsed_values.items():
        row = stored.get(indicador_id)
        if row is None:
            report.values.append(IndicatorValue(indicador_id=indicador_id, **values))
        else:
            row.valor, row.comentario = values["valor"], values["comentario"]
    report.dificultades = dificultades
    _touch(session, report, actor, now or utcnow())
    return report


# --- sending, acknowledging, returning ----------------------------------------------------


def missing_for_submission(session: Session, report: FollowUpReport) -> list[str]:
    """What keeps the report from being sent, in plain words (empty: it can be sent)."""
    reasons = []
    labels = actividad_labels(session, report.ruta)
    reported = {line.actividad_id for line in report.lines}
    for actividad in actividades(session, report.ruta):
        if actividad.id not in reported:
            label = labels.get(f"actividad:{actividad.id}", "Actividad")
            reasons.append(f"Falta informar la {label.lower()}: guarde el formulario con su "
                           "avance y su estado.")
    for row in observations(session, report):
        if row.status in life.UNANSWERED:
            reasons.append(f"Falta responder la observación sobre «{row.element_label}».")
    return reasons


def _school_addressees(session: Session, ruta: Ruta) -> tuple[list[str], list[str]]:
    from workflow.notifications import rector, team

    to, cc = rector(session, ruta.school_id), team(session, ruta.school_id)
    return (to, cc) if to else (cc, [])


def _reviewer_addressees(session: Session, ruta: Ruta) -> list[str]:
    from workflow.notifications import reviewers

    if ruta.reviewer is not None and ruta.reviewer.active:
        return [ruta.reviewer.email]
    return reviewers(session, ruta.school.secretaria_id)


def _context(session: Session, report: FollowUpReport, actor: User | None,
             at: datetime, **extra: Any) -> dict[str, Any]:
    ruta = report.ruta
    return {
        "school_name": ruta.school.name, "dane_code": ruta.school.dane_code,
        "secretaria_name": ruta.school.secretaria.name, "horizon": ruta.horizon_label,
        "checkpoint_name": report.checkpoint.name,
        "checkpoint_date": fecha_corta(report.checkpoint.due_on),
        "report_url": outbox.absolute_url(
            session, f"/rutas/{ruta.id}/seguimiento/informes/{report.id}"),
        "ruta_url": outbox.absolute_url(session, f"/rutas/{ruta.id}"),
        "actor_name": actor.name if actor is not None else None, "at": at,
        "late": report.late, **extra,
    }


def _mail(session: Session, report: FollowUpReport, kind: str, to: list[str], cc: list[str],
          context: dict[str, Any], now: datetime) -> None:
    if not to:
        return
    outbox.enqueue(session, kind=kind, to=to, cc=cc, context=context,
                   dedupe_key=f"seguimiento:{report.id}:{kind}:{report.version}",
                   secretaria_id=report.ruta.school.secretaria_id, ruta_id=report.ruta_id,
                   now=now)


def submit_report(session: Session, report: FollowUpReport, *, actor: User,
                  expected_version: int | None, now: datetime | None = None) -> FollowUpReport:
    """borrador/devuelto → enviado, by the rector. Mails the revisor(es). Flushes."""
    if not is_rector_of(actor, report.ruta):
        raise Forbidden("Solo el rector o la rectora envía el informe de seguimiento a la "
                        "Secretaría.")
    require_editable(session, report, actor, expected_version)
    reasons = missing_for_submission(session, report)
    if reasons:
        raise GuardFailed("Todavía no se puede enviar el informe de seguimiento.", reasons)
    moment = now or utcnow()
    resent = report.submitted_at is not None
    report.status = ReportStatus.ENVIADO
    if report.submitted_at is None:
        report.submitted_at, report.submitted_by_id = moment, actor.id
    report.last_submitted_at = moment
    report.submissions += 1
    _touch(session, report, actor, moment)
    _mail(session, report, "seguimiento_informe_enviado",
          _reviewer_addressees(session, report.ruta), [],
          _context(session, report, actor, moment, resent=resent,
                   answered=[{"element": row.element_label, "text": row.text,
                              "response": row.response or ""}
                             for row in observations(session, report)
                             if row.status is ObservationStatus.RESPONDIDA]), moment)
    return report


def acknowledge(session: Session, report: FollowUpReport, *, reviewer: User,
                expected_version: int | None, comment: str = "",
                now: datetime | None = None) -> FollowUpReport:
    """enviado → reconocido, by a revisor; refused while any observation is not resolved."""
    _require_reviewer(session, report, reviewer, expected_version)
    open_rows = [row for row in observations(session, report) if row.is_open]
    if open_rows:
        raise GuardFailed(
            "Todavía no se puede dar por recibido el informe.",
            [f"La observación sobre «{row.element_label}» no está resuelta "
             f"({row.status.label.lower()}): márquela resuelta, o devuelva el informe."
             for row in open_rows])
    cleaned = comment.strip()
    if len(cleaned) > MAX_TEXT:
        raise InvalidInput({"comentario": [f"El comentario no puede pasar de {MAX_TEXT} "
                                           "caracteres."]})
    moment = now or utcnow()
    report.status = ReportStatus.RECONOCIDO
    report.acknowledged_at, report.acknowledged_by_id = moment, reviewer.id
    report.acknowledgement = cleaned
    _touch(session, report, reviewer, moment)
    to, cc = _school_addressees(session, report.ruta)
    _mail(session, report, "seguimiento_informe_reconocido", to, cc,
          _context(session, report, reviewer, moment, comment=cleaned), moment)
    return report


def return_report(session: Session, report: FollowUpReport, *, reviewer: User,
                  expected_version: int | None,
                  now: datetime | None = None) -> FollowUpReport:
    """enviado → devuelto, with at least one observation (new drafts or still open ones)."""
    _require_reviewer(session, report, reviewer, expected_version)
    rows = [row for row in observations(session, report) if row.status in life.TO_SEND]
    if not rows:
        raise GuardFailed("Todavía no se puede devolver el informe.",
                          ["Escriba al menos una observación (sobre una actividad, un "
                           "indicador o el informe en general) antes de devolverlo."])
    moment = now or utcnow()
    life.send(rows, moment)
    report.status = ReportStatus.DEVUELTO
    report.returned_at = moment
    _touch(session, report, reviewer, moment)
    to, cc = _school_addressees(session, report.ruta)
    _mail(session, report, "seguimiento_informe_devuelto", to, cc,
          _context(session, report, reviewer, moment,
                   observations=[{"element": row.element_label, "text": row.text}
                                 for row in rows]), moment)
    return report


# --- observations -------------------------------------------------------------------------


def element_choices(session: Session, report: FollowUpReport) -> dict[str, str]:
    """What an observation can be about: the report as a whole, each actividad, each
    indicador (value → label)."""
    labels = actividad_labels(session, report.ruta)
    choices = {"informe": "El informe en general"}
    for actividad in actividades(session, report.ruta):
        choices[f"actividad:{actividad.id}"] = labels.get(f"actividad:{actividad.id}",
                                                          "Actividad")
    for indicador in indicadores(session, report.ruta):
        name = labels.get(f"indicador:{indicador.id}", "Indicador")
        choices[f"indicador:{indicador.id}"] = f"{name}: {indicador.nombre}"[:120]
    return choices


def _observation(session: Session, report: FollowUpReport,
                 observation_id: int | None) -> FollowUpObservation:
    found = session.get(FollowUpObservation, observation_id) \
        if observation_id is not None else None
    if found is None or found.report_id != report.id:
        raise NotFound("No encontramos esa observación.")
    return found


def add_observation(session: Session, report: FollowUpReport, *, reviewer: User,
                    element: str, text: str, now: datetime | None = None
                    ) -> FollowUpObservation:
    """A draft observation (sent to the school when the report is returned). Flushes."""
    _require_reviewer(session, report, reviewer)
    choices = element_choices(session, report)
    errors: dict[str, list[str]] = {}
    if element not in choices:
        errors["elemento"] = ["Elija a qué se refiere la observación: una actividad, un "
                              "indicador o «El informe en general»."]
    problem = life.text_problem(
        text, noun="La observación",
        empty="Escriba la observación: qué debe corregir o aclarar la institución.")
    if problem:
        errors["texto"] = [problem]
    if errors:
        raise InvalidInput(errors)
    row = FollowUpObservation(report_id=report.id, element=element,
                              element_label=choices[element][:120], text=text.strip(),
                              status=ObservationStatus.BORRADOR, author_id=reviewer.id,
                              created_at=now or utcnow())
    session.add(row)
    session.flush()
    return row


def delete_observation(session: Session, report: FollowUpReport, observation_id: int | None,
                       *, reviewer: User) -> None:
    _require_reviewer(session, report, reviewer)
    row = _observation(session, report, observation_id)
    life.require_draft(row)
    session.delete(row)
    session.flush()


def judge_observation(session: Session, report: FollowUpReport, observation_id: int | None,
                      *, reviewer: User, resolved: bool,
                      now: datetime | None = None) -> FollowUpObservation:
    _require_reviewer(session, report, reviewer)
    row = _observation(session, report, observation_id)
    life.judge(row, reviewer=reviewer, resolved=resolved, now=now)
    session.flush()
    return row


def answer_observation(session: Session, report: FollowUpReport, observation_id: int | None,
                       *, actor: User, response: str,
                       now: datetime | None = None) -> FollowUpObservation:
    """The rector's answer to an observation of a returned report. Flushes."""
    if not is_rector_of(actor, report.ruta):
        raise Forbidden("Solo el rector o la rectora responde las observaciones de la "
                        "Secretaría.")
    _lock(session, report, None)
    if report.status is not ReportStatus.DEVUELTO:
        raise NotEditable("Las observaciones se responden cuando la Secretaría devuelve el "
                          "informe, antes de volver a enviarlo.")
    row = _observation(session, report, observation_id)
    life.answer(row, actor=actor, response=response, now=now,
                empty="Escriba la respuesta: qué corrigió la institución o qué aclara.")
    session.flush()
    return row


# --- consolidated progress (the Secretaría's view) -----------------------------------------


@dataclass(frozen=True)
class FollowUpProgress:
    # Average % de avance (canceladas left out) of the latest report sent.
    percent: float | None
    # Checkpoints reported (sent at least once) and checkpoints due by ``today``.
    reports: int
    due: int
    late: int
    # Actividades in red in the latest report sent.
    behind: int
    label: str


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), BATCH):
        yield unique[start:start + BATCH]


def progress_label(percent: float | None, reports: int, due: int, late: int,
                   behind: int) -> str:
    if percent is None and reports == 0 and due == 0:
        return "Sin cortes vencidos"
    parts = [f"{percent:.0f} % de avance" if percent is not None else "Sin informes",
             f"{reports} de {due} informe{'s' if due != 1 else ''}"]
    if late:
        parts.append(f"{late} tarde")
    if behind:
        parts.append(f"{behind} en rojo")
    return " · ".join(parts)


def progress_by_ruta(session: Session, ruta_ids: Sequence[int], *,
                     today: date) -> dict[int, FollowUpProgress]:
    """The seguimiento progress of each Ruta, in a few queries per 500 Rutas.

    Rutas that never reached ``seguimiento`` have nothing due. ``due`` counts the
    checkpoints of the Ruta's calendar dated from the plan's start to ``today``.
    """
    calendars: dict[tuple[int, int], list[tuple[int, date]]] = {}
    for secretaria_id, start_year, point_id, due_on in session.execute(
            select(HorizonCalendar.secretaria_id,
                   HorizonCalendar.horizon_start_year, FollowUpCheckpoint.id,
                   FollowUpCheckpoint.due_on)
            .join(FollowUpCheckpoint, FollowUpCheckpoint.calendar_id == HorizonCalendar.id)):
        calendars.setdefault((secretaria_id, start_year), []).append((point_id, due_on))
    result: dict[int, FollowUpProgress] = {}
    for chunk in _chunks(ruta_ids):
        rutas = session.execute(
            select(Ruta.id, Ruta.state, Ruta.horizon_start_year, School.secretaria_id)
            .join(School, School.id == Ruta.school_id).where(Ruta.id.in_(chunk))).all()
        starts = plan_starts(session, chunk)
        reports: dict[int, list[tuple[int, date, datetime]]] = {}
        for report_id, ruta_id, due_on, submitted_at in session.execute(
                select(FollowUpReport.id, FollowUpReport.ruta_id, FollowUpCheckpoint.due_on,
                       FollowUpReport.submitted_at)
                .join(FollowUpCheckpoint, FollowUpCheckpoint.id == FollowUpReport.checkpoint_id)
                .where(FollowUpReport.ruta_id.in_(chunk),
                       FollowUpReport.status.in_(list(SUBMITTED)))):
            reports.setdefault(ruta_id, []).append((report_id, due_on, submitted_at))
        latest = {ruta_id: max(rows, key=lambda row: (row[1], row[0]))
                  for ruta_id, rows in reports.items()}
        lines: dict[int, list[tuple[float, LineStatus, float | None]]] = {}
        if latest:
            due_by_report = {row[0]: row[1] for row in latest.values()}
            for report_id, avance, status, inicio, fin in session.execute(
                    select(FollowUpLine.report_id, FollowUpLine.avance, FollowUpLine.status,
                           Actividad.fecha_inicio, Actividad.fecha_fin)
                    .join(Actividad, Actividad.id == FollowUpLine.actividad_id)
                    .where(FollowUpLine.report_id.in_(list(due_by_report)))):
                lines.setdefault(report_id, []).append(
                    (avance, status, planned_percent(inicio, fin, due_by_report[report_id])))
        for ruta_id, state, start_year, secretaria_id in rutas:
            sent = reports.get(ruta_id, [])
            due = 0
            if state in (State.SEGUIMIENTO, State.CERRADO):
                start = starts.get(ruta_id)
                due = sum(1 for _, due_on in calendars.get((secretaria_id, start_year), [])
                          if due_on <= today and (start is None or due_on >= start))
            percent: float | None = None
            behind = 0
            if ruta_id in latest:
                rows = lines.get(latest[ruta_id][0], [])
                counted = [avance for avance, status, _ in rows
                           if status is not LineStatus.CANCELADA]
                percent = round(sum(counted) / len(counted), 1) if counted else None
                behind = sum(1 for avance, status, planned in rows
                             if semaforo(avance, status, planned) is Semaforo.ROJO)
            late = sum(1 for _, due_on, submitted_at in sent if is_late(submitted_at, due_on))
            result[ruta_id] = FollowUpProgress(
                percent=percent, reports=len(sent), due=due, late=late, behind=behind,
                label=progress_label(percent, len(sent), due, late, behind))
    return result


# --- exports ------------------------------------------------------------------------------

EXPORT_HEADER: Final[tuple[str, ...]] = (
    "Código DANE", "Institución", "Corte", "Fecha del corte", "Estado del informe",
    "Enviado el", "Enviado tarde", "Actividad", "% de avance", "Estado de la actividad",
    "Avance esperado (%)", "Semáforo", "Dificultades", "Recursos usados",
    "Costo ejecutado (pesos)", "Razones de lo no realizado",
)
INDICATOR_EXPORT_HEADER: Final[tuple[str, ...]] = (
    "Código DANE", "Institución", "Corte", "Fecha del corte", "Estado del informe",
    "Indicador", "Unidad", "Línea base", "Meta del año", "Valor medido", "Comentario",
)


def _yes_no(value: bool) -> str:
    return "Sí" if value else "No"


def export_rows(session: Session, ruta_ids: Sequence[int]) -> Iterator[tuple[Any, ...]]:
    """One row per actividad of every report sent (drafts are the school's, not exported),
    in the order of ``EXPORT_HEADER``; read 500 Rutas at a time."""
    for chunk in _chunks(ruta_ids):
        statement = (
            select(School.dane_code, School.name, FollowUpCheckpoint.name,
                   FollowUpCheckpoint.due_on, FollowUpReport.status,
                   FollowUpReport.submitted_at, Actividad.descripcion, Actividad.fecha_inicio,
                   Actividad.fecha_fin, FollowUpLine.avance, FollowUpLine.status,
                   FollowUpLine.dificultades, FollowUpLine.recursos, FollowUpLine.costo,
                   FollowUpLine.razones)
            .select_from(FollowUpLine)
            .join(FollowUpReport, FollowUpReport.id == FollowUpLine.report_id)
            .join(FollowUpCheckpoint, FollowUpCheckpoint.id == FollowUpReport.checkpoint_id)
            .join(Actividad, Actividad.id == FollowUpLine.actividad_id)
            .join(Ruta, Ruta.id == FollowUpReport.ruta_id)
            .join(School, School.id == Ruta.school_id)
            .where(FollowUpReport.ruta_id.in_(chunk),
                   FollowUpReport.status.in_(list(SUBMITTED)))
            .order_by(School.dane_code, FollowUpCheckpoint.due_on, Actividad.meta_id,
                      Actividad.id))
        for (dane, school, checkpoint, due_on, report_status, submitted_at, descripcion,
             inicio, fin, avance, status, dificultades, recursos, costo,
             razones) in session.execute(statement):
            planned = planned_percent(inicio, fin, due_on)
            yield (dane, school, checkpoint, due_on, report_status.label,
                   bogota_day(submitted_at) if submitted_at else None,
                   _yes_no(is_late(submitted_at, due_on)), descripcion, avance, status.label,
                   planned, semaforo(avance, status, planned).label, dificultades, recursos,
                   costo, razones)


def indicator_export_rows(session: Session,
                          ruta_ids: Sequence[int]) -> Iterator[tuple[Any, ...]]:
    """One row per indicador of every report sent, in the order of
    ``INDICATOR_EXPORT_HEADER``; the year's target is the indicador's for the checkpoint's
    year."""
    for chunk in _chunks(ruta_ids):
        statement = (
            select(School.dane_code, School.name, FollowUpCheckpoint.name,
                   FollowUpCheckpoint.due_on, FollowUpReport.status, Indicador.nombre,
                   Indicador.unidad, Indicador.linea_base, Indicador.metas_anuales,
                   IndicatorValue.valor, IndicatorValue.comentario)
            .select_from(IndicatorValue)
            .join(FollowUpReport, FollowUpReport.id == IndicatorValue.report_id)
            .join(FollowUpCheckpoint, FollowUpCheckpoint.id == FollowUpReport.checkpoint_id)
            .join(Indicador, Indicador.id == IndicatorValue.indicador_id)
            .join(Meta, Meta.id == Indicador.meta_id)
            .join(Ruta, Ruta.id == FollowUpReport.ruta_id)
            .join(School, School.id == Ruta.school_id)
            .where(FollowUpReport.ruta_id.in_(chunk),
                   FollowUpReport.status.in_(list(SUBMITTED)))
            .order_by(School.dane_code, FollowUpCheckpoint.due_on, Indicador.meta_id,
                      Indicador.id))
        for (dane, school, checkpoint, due_on, report_status, nombre, unidad, linea_base,
             targets, valor, comentario) in session.execute(statement):
            yield (dane, school, checkpoint, due_on, report_status.label, nombre, unidad,
                   linea_base, (targets or {}).get(str(due_on.year)), valor, comentario)
