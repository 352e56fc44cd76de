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
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.catalogo.models import CatalogComponente
from workflow.models import Base, User, str_enum, utcnow
from workflow.observations import ObservationStatus
from workflow.pmi.criteria_names import CRITERION_LABELS, criterion_name

MAX_SHORT = 300


# --- enumerations -------------------------------------------------------------------------


class Fuente(PyEnum):
    """The sources every Secretaría offers for a hallazgo: the pruebas Saber, Evaluar para
    Avanzar, the school's own evaluations, and another external test named by the school.
    A Secretaría adds its own (``FuenteSecretaria``); a hallazgo stores the source's code."""

    SABER_3 = "saber_3"
    SABER_5 = "saber_5"
    SABER_7 = "saber_7"
    SABER_9 = "saber_9"
    SABER_11 = "saber_11"
    EVALUAR_PARA_AVANZAR = "evaluar_para_avanzar"
    INTERNA = "interna"
    OTRA_EXTERNA = "otra_externa"

    @property
    def label(self) -> str:
        return FUENTE_LABELS[self]

    @property
    def external(self) -> bool:
        return self is not Fuente.INTERNA


FUENTE_LABELS = {
    Fuente.SABER_3: "Saber 3.°",
    Fuente.SABER_5: "Saber 5.°",
    Fuente.SABER_7: "Saber 7.°",
    Fuente.SABER_9: "Saber 9.°",
    Fuente.SABER_11: "Saber 11",
    Fuente.EVALUAR_PARA_AVANZAR: "Evaluar para Avanzar",
    Fuente.INTERNA: "Evaluación interna",
    Fuente.OTRA_EXTERNA: "Otra prueba externa",
}
# A Secretaría's own source is stored on a hallazgo as this prefix and the row's id.
SECRETARIA_FUENTE_PREFIX = "sec_"


class ValorUnidad(PyEnum):
    """What a hallazgo's value is measured in, and the range a value of it can take."""

    PORCENTAJE = "porcentaje"
    PUNTAJE_500 = "puntaje_500"
    PUNTAJE_100 = "puntaje_100"
    NIVEL = "nivel"

    @property
    def label(self) -> str:
        return VALOR_UNIDAD_LABELS[self][0]

    @property
    def bounds(self) -> tuple[float, float]:
        return VALOR_UNIDAD_LABELS[self][1]


VALOR_UNIDAD_LABELS: Final[Mapping[ValorUnidad, tuple[str, tuple[float, float]]]] = {
    ValorUnidad.PORCENTAJE: ("Porcentaje (0 a 100 %)", (0, 100)),
    ValorUnidad.PUNTAJE_500: ("Puntaje global (0 a 500)", (0, 500)),
    ValorUnidad.PUNTAJE_100: ("Puntaje por prueba o competencia (0 a 100)", (0, 100)),
    ValorUnidad.NIVEL: ("Nivel de desempeño (1 a 4)", (1, 4)),
}


class Comparacion(PyEnum):
    """What a hallazgo's value is compared with."""

    MUNICIPAL = "municipal"
    NACIONAL = "nacional"
    ETC = "etc"
    ANIO_ANTERIOR = "anio_anterior"

    @property
    def label(self) -> str:
        return COMPARACION_LABELS[self]


COMPARACION_LABELS = {
    Comparacion.MUNICIPAL: "Promedio municipal",
    Comparacion.NACIONAL: "Promedio nacional",
    Comparacion.ETC: "Promedio de la entidad territorial certificada (ETC)",
    Comparacion.ANIO_ANTERIOR: "Resultado del año anterior",
}


class MetaTipo(PyEnum):
    """How a meta moves its measure: the cantidad is a final value («alcanzar», «reducir a»,
    «mantener») or a change from the línea base («aumentar en», «reducir en»)."""

    ALCANZAR = "alcanzar"
    AUMENTAR_EN = "aumentar_en"
    REDUCIR_EN = "reducir_en"
    REDUCIR_A = "reducir_a"
    MANTENER = "mantener"

    @property
    def label(self) -> str:
        return META_TIPO_LABELS[self]


META_TIPO_LABELS = {
    MetaTipo.ALCANZAR: "Alcanzar un valor",
    MetaTipo.AUMENTAR_EN: "Aumentar en (la cantidad es el aumento)",
    MetaTipo.REDUCIR_EN: "Reducir en (la cantidad es la reducción)",
    MetaTipo.REDUCIR_A: "Reducir a un valor",
    MetaTipo.MANTENER: "Mantener un valor",
}


class IndicadorTipo(PyEnum):
    """A result indicator measures its meta; a process indicator follows the actions."""

    RESULTADO = "resultado"
    PROCESO = "proceso"

    @property
    def label(self) -> str:
        return "De resultado" if self is IndicadorTipo.RESULTADO else "De proceso"


class Trayectoria(PyEnum):
    """Students with diverse educational trajectories an actividad may serve."""

    INCLUSION = "inclusion"
    EXTRAEDAD = "extraedad"
    MIGRANTES = "migrantes"
    RURAL = "rural"
    DISCAPACIDAD = "discapacidad"
    ETNICA = "etnica"
    VICTIMAS = "victimas"
    CLEI = "clei"
    TALENTOS = "talentos"
    HOSPITALARIAS = "hospitalarias"
    SRPA = "srpa"
    FLEXIBLES = "flexibles"

    @property
    def label(self) -> str:
        return TRAYECTORIA_LABELS[self]


TRAYECTORIA_LABELS = {
    Trayectoria.INCLUSION: "Educación inclusiva",
    Trayectoria.EXTRAEDAD: "Extraedad",
    Trayectoria.MIGRANTES: "Población migrante",
    Trayectoria.RURAL: "Ruralidad",
    Trayectoria.DISCAPACIDAD: "Estudiantes con discapacidad",
    Trayectoria.ETNICA: "Grupos étnicos",
    Trayectoria.VICTIMAS: "Víctimas del conflicto armado",
    Trayectoria.CLEI: "Jóvenes y adultos (CLEI)",
    Trayectoria.TALENTOS: "Capacidades o talentos excepcionales",
    Trayectoria.HOSPITALARIAS: "Aulas hospitalarias",
    Trayectoria.SRPA: "Adolescentes en el Sistema de Responsabilidad Penal (SRPA)",
    Trayectoria.FLEXIBLES: "Modelos educativos flexibles",
}


# --- models -------------------------------------------------------------------------------


objetivo_componentes = Table(
    "pmi_objetivo_componentes", Base.metadata,
    Column("objetivo_id", ForeignKey("pmi_objetivos.id"), primary_key=True),
    Column("componente_id", ForeignKey("catalog_componentes.id"), primary_key=True),
)

hallazgo_componentes = Table(
    "pmi_hallazgo_componentes", Base.metadata,
    Column("hallazgo_id", ForeignKey("pmi_hallazgos.id"), primary_key=True),
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
    # Bumped on every save; a form posted with an older one is a stale edit (``plan``).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __table_args__ = (
        CheckConstraint("presupuesto IS NULL OR presupuesto >= 0", name="presupuesto_positive"),
    )


class FuenteSecretaria(Base):
    """A source of hallazgos a Secretaría adds to the shipped list (``Fuente``)."""

    __tablename__ = "pmi_fuentes"

    id: Mapped[int] = mapped_column(primary_key=True)
    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"), index=True)
    nombre: Mapped[str] = mapped_column(String(120))
    externa: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (UniqueConstraint("secretaria_id", "nombre",
                                       name="uq_pmi_fuentes_nombre"),)

    @property
    def code(self) -> str:
        return f"{SECRETARIA_FUENTE_PREFIX}{self.id}"


class Hallazgo(Base):
    """A weakness found in a prueba externa or an internal evaluation, with its data."""

    __tablename__ = "pmi_hallazgos"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    # A ``Fuente`` value, or ``sec_<id>`` for a ``FuenteSecretaria``.
    fuente: Mapped[str] = mapped_column(String(40))
    # The name of the test when ``fuente`` is «otra_externa».
    fuente_nombre: Mapped[str] = mapped_column(String(MAX_SHORT), default="",
                                               server_default="")
    # Área or competencia evaluated.
    area: Mapped[str] = mapped_column(String(MAX_SHORT))
    grado: Mapped[str] = mapped_column(String(80), default="")
    descripcion: Mapped[str] = mapped_column(Text)
    # The data; NULL on hallazgos recorded before they were asked for.
    anio: Mapped[int | None] = mapped_column(Integer)
    valor: Mapped[float | None] = mapped_column(Float)
    valor_unidad: Mapped[ValorUnidad | None] = mapped_column(
        str_enum(ValorUnidad, "hallazgo_valor_unidad"))
    comparacion: Mapped[Comparacion | None] = mapped_column(
        str_enum(Comparacion, "hallazgo_comparacion"))
    comparacion_valor: Mapped[float | None] = mapped_column(Float)
    # Bumped on every save; a form posted with an older one is a stale edit (``plan``).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    objetivos: Mapped[list[Objetivo]] = relationship(secondary=objetivo_hallazgos,
                                                     back_populates="hallazgos")
    componentes: Mapped[list[CatalogComponente]] = relationship(
        secondary=hallazgo_componentes, order_by=CatalogComponente.id)

    __table_args__ = (
        CheckConstraint("(valor IS NULL) = (valor_unidad IS NULL)", name="valor_with_unit"),
        CheckConstraint("(comparacion IS NULL) = (comparacion_valor IS NULL)",
                        name="comparison_with_value"),
    )


class Objetivo(Base):
    __tablename__ = "pmi_objetivos"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    enunciado: Mapped[str] = mapped_column(Text)
    # Why the objetivo works on componentes the autoevaluación rated fortalezas.
    razon_fortaleza: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Bumped on every save; a form posted with an older one is a stale edit (``plan``).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
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
    tipo: Mapped[MetaTipo] = mapped_column(str_enum(MetaTipo, "meta_tipo"),
                                           default=MetaTipo.ALCANZAR,
                                           server_default=MetaTipo.ALCANZAR.value)
    # The final value, or the change for «aumentar en» and «reducir en».
    cantidad: Mapped[float | None] = mapped_column(Float)
    unidad: Mapped[str] = mapped_column(String(120), default="")
    fecha_limite: Mapped[date | None] = mapped_column(Date)
    linea_base: Mapped[float | None] = mapped_column(Float)
    # Bumped on every save; a form posted with an older one is a stale edit (``plan``).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
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
    tipo: Mapped[IndicadorTipo] = mapped_column(
        str_enum(IndicadorTipo, "indicador_tipo"), default=IndicadorTipo.RESULTADO,
        server_default=IndicadorTipo.RESULTADO.value)
    # A sí/no indicator («acuerdo aprobado»): línea base and targets are 0 or 1.
    binario: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # "numerador / denominador", or a description of how it is computed.
    formula: Mapped[str] = mapped_column(Text, default="")
    unidad: Mapped[str] = mapped_column(String(120), default="")
    frecuencia: Mapped[str] = mapped_column(String(120), default="")
    fuente: Mapped[str] = mapped_column(String(MAX_SHORT), default="")
    linea_base: Mapped[float | None] = mapped_column(Float)
    # Target per year of the horizon: {"2024": 40.0, "2025": 45.0}.
    metas_anuales: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    # Bumped on every save; a form posted with an older one is a stale edit (``plan``).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
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
    # Bumped on every save; a form posted with an older one is a stale edit (``plan``).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
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
    # Bumped on every save; a form posted with an older one is a stale edit (``plan``).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    componente: Mapped[CatalogComponente] = relationship()

    __table_args__ = (UniqueConstraint("ruta_id", "componente_id"),)


class PmiDeletion(Base):
    """An element deleted from the plan with everything that went with it, kept so that
    «Deshacer» can put it all back with the same ids (``workflow.pmi.deletions``).

    ``payload`` holds the rows as they were: ``{"rows": {table: [row, ...]}, "links":
    {table: [row, ...]}}``. ``restored_at`` is set by an undo; a row is never reused.
    """

    __tablename__ = "pmi_deletions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    element_id: Mapped[int] = mapped_column(Integer)
    # What the person read: «Objetivo 2» and what went with it.
    label: Mapped[str] = mapped_column(String(MAX_SHORT))
    summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)
    restored_at: Mapped[datetime | None]
    restored_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


# --- versions and review -------------------------------------------------------------------

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
        # The «Pendientes» badge counts the answered observations by Ruta (migration 0035).
        Index("ix_pmi_observations_status_ruta_id", "status", "ruta_id"),
    )

    @property
    def criterion_label(self) -> str:
        return CRITERION_LABELS[self.criterion]

    @property
    def criterion_name(self) -> str:
        return criterion_name(self.criterion)

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
