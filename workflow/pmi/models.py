"""The PMI's tables and their column enums.

The plan as a whole (``PmiPlan``: budget and divulgación), the hallazgos of the pruebas externas
and internal evaluations, the objetivos with their metas, indicadores and actividades, and the
top-priority oportunidades deferred (``Aplazamiento``); the labels of ``Fuente`` and
``Trayectoria``. Then what the Secretaría's review keeps: the snapshot frozen at each
submission (``PmiSnapshot``), the itemized observations (``Observation``) and the criteria of
Circular 0488 they and the checks are tagged with. Formulating the plan is
``workflow.pmi.plan``'s; checking it ``checks``'; versions ``versions``'; reviewing ``review``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum as PyEnum
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.catalogo.models import CatalogComponente
from workflow.models import Base, User, str_enum, utcnow
from workflow.observations import ObservationStatus

MAX_SHORT = 300


# --- enumerations -------------------------------------------------------------------------


class Fuente(PyEnum):
    """Where a hallazgo comes from: a prueba Saber, or the school's own evaluations."""

    SABER_3 = "saber_3"
    SABER_5 = "saber_5"
    SABER_9 = "saber_9"
    SABER_11 = "saber_11"
    INTERNA = "interna"

    @property
    def label(self) -> str:
        return FUENTE_LABELS[self]

    @property
    def external(self) -> bool:
        return self is not Fuente.INTERNA


FUENTE_LABELS = {
    Fuente.SABER_3: "Saber 3.°",
    Fuente.SABER_5: "Saber 5.°",
    Fuente.SABER_9: "Saber 9.°",
    Fuente.SABER_11: "Saber 11",
    Fuente.INTERNA: "Evaluación interna",
}


class Trayectoria(PyEnum):
    """Students with diverse educational trajectories an actividad may serve."""

    INCLUSION = "inclusion"
    EXTRAEDAD = "extraedad"
    MIGRANTES = "migrantes"
    RURAL = "rural"
    DISCAPACIDAD = "discapacidad"
    ETNICA = "etnica"

    @property
    def label(self) -> str:
        return TRAYECTORIA_LABELS[self]


TRAYECTORIA_LABELS = {
    Trayectoria.INCLUSION: "Educación inclusiva",
    Trayectoria.EXTRAEDAD: "Extraedad (modelos flexibles)",
    Trayectoria.MIGRANTES: "Población migrante",
    Trayectoria.RURAL: "Ruralidad",
    Trayectoria.DISCAPACIDAD: "Estudiantes con discapacidad",
    Trayectoria.ETNICA: "Grupos étnicos",
}


# --- models -------------------------------------------------------------------------------


objetivo_componentes = Table(
    "pmi_objetivo_componentes", Base.metadata,
    Column("objetivo_id", ForeignKey("pmi_objetivos.id"), primary_key=True),
    Column("componente_id", ForeignKey("catalog_componentes.id"), primary_key=True),
)

objetivo_hallazgos = Table(
    "pmi_objetivo_hallazgos", Base.metadata,
    Column("objetivo_id", ForeignKey("pmi_objetivos.id"), primary_key=True),
    Column("hallazgo_id", ForeignKey("pmi_hallazgos.id"), primary_key=True),
)


class PmiPlan(Base):
    """What belongs to the plan as a whole: budget and divulgación."""

    __tablename__ = "pmi_plans"

    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), primary_key=True)
    # Pesos colombianos; NULL when the school declares no budget.
    presupuesto: Mapped[int | None] = mapped_column(BigInteger)
    divulgacion: Mapped[str] = mapped_column(Text, default="")
    divulgacion_fecha: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        CheckConstraint("presupuesto IS NULL OR presupuesto >= 0", name="presupuesto_positive"),
    )


class Hallazgo(Base):
    """A weakness found in a prueba externa or an internal evaluation."""

    __tablename__ = "pmi_hallazgos"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    fuente: Mapped[Fuente] = mapped_column(str_enum(Fuente, "hallazgo_fuente"))
    area: Mapped[str] = mapped_column(String(MAX_SHORT))
    grado: Mapped[str] = mapped_column(String(80), default="")
    descripcion: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    objetivos: Mapped[list[Objetivo]] = relationship(secondary=objetivo_hallazgos,
                                                     back_populates="hallazgos")


class Objetivo(Base):
    __tablename__ = "pmi_objetivos"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    enunciado: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    componentes: Mapped[list[CatalogComponente]] = relationship(
        secondary=objetivo_componentes, order_by=CatalogComponente.id)
    hallazgos: Mapped[list[Hallazgo]] = relationship(
        secondary=objetivo_hallazgos, back_populates="objetivos", order_by=Hallazgo.id)
    metas: Mapped[list[Meta]] = relationship(back_populates="objetivo", order_by="Meta.id",
                                             cascade="all, delete-orphan")


class Meta(Base):
    __tablename__ = "pmi_metas"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    objetivo_id: Mapped[int] = mapped_column(ForeignKey("pmi_objetivos.id"), index=True)
    enunciado: Mapped[str] = mapped_column(Text)
    cantidad: Mapped[float | None] = mapped_column(Float)
    unidad: Mapped[str] = mapped_column(String(120), default="")
    fecha_limite: Mapped[date | None] = mapped_column(Date)
    linea_base: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    objetivo: Mapped[Objetivo] = relationship(back_populates="metas")
    indicadores: Mapped[list[Indicador]] = relationship(
        back_populates="meta", order_by="Indicador.id", cascade="all, delete-orphan")
    actividades: Mapped[list[Actividad]] = relationship(
        back_populates="meta", order_by="Actividad.id", cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint("cantidad IS NULL OR cantidad >= 0", name="cantidad_positive"),
    )


class Indicador(Base):
    __tablename__ = "pmi_indicadores"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    meta_id: Mapped[int] = mapped_column(ForeignKey("pmi_metas.id"), index=True)
    nombre: Mapped[str] = mapped_column(String(MAX_SHORT))
    # "numerador / denominador", or a description of how it is computed.
    formula: Mapped[str] = mapped_column(Text, default="")
    unidad: Mapped[str] = mapped_column(String(120), default="")
    frecuencia: Mapped[str] = mapped_column(String(120), default="")
    fuente: Mapped[str] = mapped_column(String(MAX_SHORT), default="")
    linea_base: Mapped[float | None] = mapped_column(Float)
    # Target per year of the horizon: {"2024": 40.0, "2025": 45.0}.
    metas_anuales: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    meta: Mapped[Meta] = relationship(back_populates="indicadores")


class Actividad(Base):
    __tablename__ = "pmi_actividades"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    meta_id: Mapped[int] = mapped_column(ForeignKey("pmi_metas.id"), index=True)
    descripcion: Mapped[str] = mapped_column(Text)
    responsable: Mapped[str] = mapped_column(String(MAX_SHORT), default="")
    fecha_inicio: Mapped[date | None] = mapped_column(Date)
    fecha_fin: Mapped[date | None] = mapped_column(Date)
    recursos: Mapped[str] = mapped_column(Text, default="")
    # Pesos colombianos.
    costo: Mapped[int | None] = mapped_column(BigInteger)
    fuente_financiacion: Mapped[str] = mapped_column(String(MAX_SHORT), default="")
    # Values of ``Trayectoria``.
    trayectorias: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    meta: Mapped[Meta] = relationship(back_populates="actividades")

    __table_args__ = (
        CheckConstraint("costo IS NULL OR costo >= 0", name="costo_positive"),
        CheckConstraint("fecha_inicio IS NULL OR fecha_fin IS NULL OR fecha_inicio <= fecha_fin",
                        name="date_order"),
    )


class Aplazamiento(Base):
    """A top-priority oportunidad the school decided not to address in this plan, and why."""

    __tablename__ = "pmi_aplazamientos"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    componente_id: Mapped[int] = mapped_column(ForeignKey("catalog_componentes.id"))
    razon: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    componente: Mapped[CatalogComponente] = relationship()

    __table_args__ = (UniqueConstraint("ruta_id", "componente_id"),)


# --- versions and review -------------------------------------------------------------------

# The eight considerations of the circular, numbered as it lists them.
CRITERIA: Final[Mapping[int, str]] = {
    1: "Coherencia entre la autoevaluación institucional y las acciones del PMI",
    2: "Coherencia entre los objetivos, metas e indicadores",
    3: "Las metas contienen cantidad, unidad de medida y tiempo",
    4: "El indicador es claro y está relacionado con la meta y el objetivo",
    5: "Viabilidad de las acciones en tiempo y recursos",
    6: "Las acciones son eficaces para cumplir los objetivos y metas",
    7: "El PMI identifica las debilidades de las pruebas externas e internas",
    8: "El PMI se articula con la oferta a estudiantes con trayectorias diversas",
}
# Guía 34 steps the circular does not list but the plan needs (divulgación).
GUIA_34 = 0
CRITERION_LABELS: Final[Mapping[int, str]] = {
    **CRITERIA, GUIA_34: "Guía 34: divulgación del plan a la comunidad educativa"}


class PmiSnapshot(Base):
    __tablename__ = "pmi_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    # 1 for the first submission of the Ruta's PMI, 2 for the next, ...
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)

    created_by: Mapped[User | None] = relationship()

    __table_args__ = (UniqueConstraint("ruta_id", "number", name="uq_pmi_snapshots_number"),)

    @property
    def label(self) -> str:
        return f"Versión {self.number}"


class Observation(Base):
    __tablename__ = "pmi_observations"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    # The version the revisor was reading; NULL only for plans sent before versions existed.
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("pmi_snapshots.id"))
    element: Mapped[str] = mapped_column(String(40))
    element_label: Mapped[str] = mapped_column(String(120))
    criterion: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[ObservationStatus] = mapped_column(
        str_enum(ObservationStatus, "observation_status"), default=ObservationStatus.BORRADOR)
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
    snapshot: Mapped[PmiSnapshot | None] = relationship()

    __table_args__ = (
        CheckConstraint("criterion BETWEEN 0 AND 8", name="criterion_range"),
        CheckConstraint("length(trim(text)) > 0", name="text_present"),
        CheckConstraint("status = 'borrador' OR returned_at IS NOT NULL", name="sent_has_time"),
        CheckConstraint("status <> 'respondida' OR response IS NOT NULL",
                        name="answered_has_response"),
    )

    @property
    def criterion_label(self) -> str:
        return CRITERION_LABELS[self.criterion]

    @property
    def is_open(self) -> bool:
        return self.status is not ObservationStatus.RESUELTA


# --- the reviewer's rubric ----------------------------------------------------------------


class Verdict(PyEnum):
    """The reviewer's judgement of one criterion of Circular 0488."""

    CUMPLE = "cumple"
    PARCIAL = "cumple_parcialmente"
    NO_CUMPLE = "no_cumple"

    @property
    def label(self) -> str:
        return {"cumple": "Cumple", "cumple_parcialmente": "Cumple parcialmente",
                "no_cumple": "No cumple"}[self.value]


class Decision(PyEnum):
    """What the review that recorded a rubric decided."""

    DEVUELTO = "devuelto"
    APROBADO = "aprobado"

    @property
    def label(self) -> str:
        return {"devuelto": "Devuelto con observaciones", "aprobado": "Aprobado"}[self.value]


class RubricVerdict(Base):
    """One criterion judged by the revisor when returning or approving a version of the PMI.

    A decision writes one row per criterion (the eight of the circular and divulgación) in the
    transaction of its transition (``transition_id``); the round is the number of the snapshot
    judged, so every submission keeps its own rubric.
    """

    __tablename__ = "pmi_rubric_verdicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    transition_id: Mapped[int] = mapped_column(ForeignKey("ruta_transitions.id"), index=True)
    # NULL only for plans sent before versions existed; ``round`` is then counted.
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("pmi_snapshots.id"))
    round: Mapped[int] = mapped_column(Integer)
    decision: Mapped[Decision] = mapped_column(str_enum(Decision, "rubric_decision"))
    criterion: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[Verdict] = mapped_column(str_enum(Verdict, "rubric_verdict"))
    note: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped[User] = relationship()
    snapshot: Mapped[PmiSnapshot | None] = relationship()

    __table_args__ = (
        UniqueConstraint("ruta_id", "round", "criterion", name="uq_pmi_rubric_verdicts_round"),
        CheckConstraint("criterion BETWEEN 0 AND 8", name="criterion_range"),
        CheckConstraint("round >= 1", name="round_positive"),
        CheckConstraint("verdict = 'cumple' OR length(trim(note)) > 0", name="note_present"),
    )

    @property
    def criterion_label(self) -> str:
        return CRITERION_LABELS[self.criterion]
