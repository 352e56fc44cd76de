"""Seguimiento's tables and their column enums: a Ruta's report for one checkpoint, its line per
actividad, its value per indicador, the revisor's observations on it; and the lateness rule
a report shows.

**Late**: a report is late when the Bogotá day of its first submission is after the
checkpoint's date (sent at 23:59 of the checkpoint day is on time; at 00:00:30 the next day
it is late). A resubmission after a return does not change it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum as PyEnum
from typing import Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.dates import BOGOTA
from workflow.errors import DomainError, GuardFailed
from workflow.horizontes.models import FollowUpCheckpoint
from workflow.models import Base, Ruta, User, str_enum, utcnow
from workflow.observations import ObservationStatus
from workflow.pmi.models import Actividad, Indicador
from workflow.states import State

# The Ruta's states in which its school fills and sends reports.
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


# The life of an observation is the PMI review's (``workflow.pmi.review``), reused as is.


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
    # The PMI version the report was sent with (``workflow.seguimiento.plan_version``); NULL
    # while never sent: it then follows the version in force at its checkpoint.
    pmi_snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("pmi_snapshots.id"))

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
        # The «Pendientes» badge on every Secretaría page counts the sent reports by Ruta
        # from this index rather than reading every report (migration 0035).
        Index("ix_follow_up_reports_status_ruta_id", "status", "ruta_id", "id"),
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


class ReasonsByField(GuardFailed):
    """``GuardFailed`` whose reasons also say which field of the page fixes each one
    (``fields``: field id → messages; "" for a reason no field fixes), so the page's error
    summary links each reason to its field."""

    def __init__(self, message: str, fields: dict[str, list[str]]) -> None:
        super().__init__(message, [text for texts in fields.values() for text in texts])
        self.fields = fields


# --- lateness -----------------------------------------------------------------------------


def bogota_day(moment: datetime) -> date:
    return moment.astimezone(BOGOTA).date()


def is_late(submitted_at: datetime | None, due_on: date) -> bool:
    """Sent after the checkpoint's day ended in Bogotá. Not sent yet: not late (yet)."""
    return submitted_at is not None and bogota_day(submitted_at) > due_on
