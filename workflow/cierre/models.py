"""The final evaluation's tables and their column enum.

The evaluation as a whole (``FinalEvaluation``: lessons, communication, registration), the
verdict on each meta of the PMI (``MetaResult``, with ``Verdict`` and its labels) and the final
value of each indicador (``IndicatorResult``). Recording them is
``workflow.cierre.evaluacion_final``'s.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum as PyEnum

from sqlalchemy import CheckConstraint, Date, Float, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from workflow.models import Base, str_enum, utcnow


class Verdict(PyEnum):
    """Whether a meta of the PMI was reached at the end of the horizon."""

    ALCANZADA = "alcanzada"
    PARCIAL = "parcialmente"
    NO_ALCANZADA = "no_alcanzada"

    @property
    def label(self) -> str:
        return VERDICT_LABELS[self]


VERDICT_LABELS = {
    Verdict.ALCANZADA: "Alcanzada",
    Verdict.PARCIAL: "Parcialmente alcanzada",
    Verdict.NO_ALCANZADA: "No alcanzada",
}


class FinalEvaluation(Base):
    """What belongs to the evaluation as a whole: lessons, communication, registration."""

    __tablename__ = "final_evaluations"

    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), primary_key=True)
    lecciones: Mapped[str] = mapped_column(Text, default="")
    # How the results reached the comunidad educativa (medio) and when.
    comunicacion_medio: Mapped[str] = mapped_column(Text, default="")
    comunicacion_fecha: Mapped[date | None] = mapped_column(Date)
    # Set when the rector marks it «registrada»: what ``cerrar`` waits for.
    registered_at: Mapped[datetime | None]
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Every save, registration and reopening adds one: a form drawn from an older version is
    # a stale edit (``evaluacion_final.save``). A Ruta without a row is at version 0.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __table_args__ = (
        CheckConstraint("registered_at IS NULL OR length(trim(lecciones)) > 0",
                        name="registered_has_lessons"),
        CheckConstraint("(registered_at IS NULL) = (registered_by_id IS NULL)",
                        name="registered_has_author"),
    )

    @property
    def registered(self) -> bool:
        return self.registered_at is not None


class MetaResult(Base):
    """The verdict on one meta of the PMI, with the value reached (the meta's unit)."""

    __tablename__ = "final_meta_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    meta_id: Mapped[int] = mapped_column(ForeignKey("pmi_metas.id"), unique=True)
    verdict: Mapped[Verdict] = mapped_column(str_enum(Verdict, "final_verdict"))
    valor_alcanzado: Mapped[float | None] = mapped_column(Float)
    comentario: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class IndicatorResult(Base):
    """The final measured value of one indicador of the PMI."""

    __tablename__ = "final_indicator_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    indicador_id: Mapped[int] = mapped_column(ForeignKey("pmi_indicadores.id"), unique=True)
    valor: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
