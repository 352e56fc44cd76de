"""The table of background exports and its column enum, and the per-Ruta aggregates
(``RutaAggregate``, kept by ``workflow.consolidado.aggregates``).

The table of background exports and its column enum.

``ExportJob``: one consolidated Excel file asked for by one person, with its filters, status
(``ExportStatus``) and progress. Requesting and running the jobs is
``workflow.consolidado.export_jobs``'s.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum as PyEnum

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.consolidado import consolidate as consolidado
from workflow.models import Base, User, str_enum, utcnow
from workflow.states import State

FILE_PREFIX = "consolidado-"
# The seguimiento column of a Ruta that has not reached seguimiento.
NOT_FOLLOWED = "—"


class ExportStatus(PyEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return {
            "queued": "En cola", "running": "Preparándose", "done": "Listo",
            "failed": "No se pudo preparar", "expired": "Vencido (el archivo se borró)",
        }[self.value]

    @property
    def pending(self) -> bool:
        return self in (ExportStatus.QUEUED, ExportStatus.RUNNING)


class ExportJob(Base):
    """One consolidated Excel file asked for by one person, with its filters (the horizon
    among them) and progress."""

    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    zona: Mapped[str | None] = mapped_column(String(20))
    comuna: Mapped[str | None] = mapped_column(String(120))
    # The horizon the file consolidates (its first year), fixed when the job is asked for.
    horizon_start_year: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[ExportStatus] = mapped_column(str_enum(ExportStatus, "export_status"),
                                                 default=ExportStatus.QUEUED)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    # A generated name inside the export folder; NULL until written and after expiry.
    file_name: Mapped[str | None] = mapped_column(String(80))
    file_size: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    requested_by: Mapped[User] = relationship()

    __table_args__ = (
        Index("ix_export_jobs_status_id", "status", "id"),
        CheckConstraint("rows_done >= 0", name="rows_done_not_negative"),
        CheckConstraint("status <> 'done' OR (file_name IS NOT NULL "
                        "AND finished_at IS NOT NULL)", name="done_has_file"),
    )

    @property
    def filters(self) -> consolidado.Filters:
        return consolidado.Filters.parse(self.zona, self.comuna, self.horizon_start_year)

    @property
    def percent(self) -> int:
        if self.status is ExportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)

    @property
    def download_name(self) -> str:
        return f"{FILE_PREFIX}{self.created_at.strftime('%Y%m%d')}-{self.id}.xlsx"


class RutaAggregate(Base):
    """One Ruta's figures for the consolidado, as of ``refreshed_at``."""

    __tablename__ = "ruta_aggregates"

    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), primary_key=True)
    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    horizon_start_year: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32))
    state_changed_at: Mapped[datetime]
    catalog_id: Mapped[int | None] = mapped_column(Integer)
    # The latest transition or seguimiento report sent (the state change without either).
    last_activity_at: Mapped[datetime]
    # What the Ruta owes the Secretaría, in words ("" when nothing): ``stalled.owed``.
    owes: Mapped[str] = mapped_column(String(200), default="")
    # «—» before seguimiento; the progress label and percent of its latest report after.
    seguimiento: Mapped[str] = mapped_column(String(200), default=NOT_FOLLOWED)
    progress_percent: Mapped[float | None] = mapped_column(Float)
    last_reminder_id: Mapped[int | None] = mapped_column(Integer)
    last_reminder_at: Mapped[datetime | None]
    refreshed_at: Mapped[datetime]
    # The ``section_counts.SECTIONS_VERSION`` its section counts were computed with (0: not
    # yet, as after the upgrade that added them): older rows count as missing.
    sections_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("ix_ruta_aggregates_scope", "secretaria_id", "horizon_start_year", "state"),
    )

    @property
    def ruta_state(self) -> State:
        return State(self.state)


class Counted:
    """What a Ruta's counts (``RutaSectionCount``) and their sums (``SectionSum``) both hold
    for a key: four counters (their meaning is the section's), the key's place in the
    instrument (ordering) and a name shown with it."""

    a: Mapped[int] = mapped_column(Integer, default=0)
    b: Mapped[int] = mapped_column(Integer, default=0)
    c: Mapped[int] = mapped_column(Integer, default=0)
    d: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(Text, default="")


class RutaSectionCount(Counted, Base):
    """One Ruta's contribution to one key of a section of the consolidado (a componente's
    levels in the perfil, a fuente's hallazgos, a criterion's verdicts in a round…), with
    the group (Secretaría, horizon, zona, comuna) it is summed into (``SectionSum``). Kept by
    ``workflow.consolidado.section_counts``."""

    __tablename__ = "ruta_section_counts"

    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), primary_key=True)
    section: Mapped[str] = mapped_column(String(24), primary_key=True)
    key: Mapped[str] = mapped_column(String(1000), primary_key=True)
    secretaria_id: Mapped[int] = mapped_column(Integer)
    horizon_start_year: Mapped[int] = mapped_column(Integer)
    zona: Mapped[str] = mapped_column(String(20))
    comuna: Mapped[str] = mapped_column(String(120))
    # For the metas' examples: the componente they belong to and the school's name as they
    # are sorted by.
    part: Mapped[str] = mapped_column(String(1000), default="")
    # Byte order on PostgreSQL too («C»), as ``bytewise`` sorts: the examples' index serves
    # their ORDER BY … LIMIT.
    sort_name: Mapped[str] = mapped_column(
        String(300).with_variant(String(300, collation="C"), "postgresql"), default="")

    __table_args__ = (
        Index("ix_ruta_section_counts_samples", "secretaria_id", "horizon_start_year",
              "section", "part", "sort_name", "ruta_id", "position"),
    )


class SectionSum(Counted, Base):
    """The sum of the ``RutaSectionCount`` rows of one group and key: what /reportes/ reads.
    ``rutas`` is how many Rutas have the key (the «instituciones» of each count: a school has
    one Ruta per horizon)."""

    __tablename__ = "section_sums"

    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"), primary_key=True)
    horizon_start_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    zona: Mapped[str] = mapped_column(String(20), primary_key=True)
    comuna: Mapped[str] = mapped_column(String(120), primary_key=True)
    section: Mapped[str] = mapped_column(String(24), primary_key=True)
    key: Mapped[str] = mapped_column(String(1000), primary_key=True)
    rutas: Mapped[int] = mapped_column(Integer, default=0)
