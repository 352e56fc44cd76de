"""The autoevaluación's tables: identity review, equipo de gestión, valoraciones, priorities.

Also the column enums (``Estamento``, ``Vigencia``) and the length limits of the texts the
autoevaluación stores.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum as PyEnum

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.catalogo.models import CatalogArea, CatalogComponente
from workflow.models import Base, User, str_enum, utcnow

MAX_TEXT = 5000
MAX_REFERENCE = 500


class Estamento(PyEnum):
    DIRECTIVO = "directivo"
    DOCENTE = "docente"
    PADRE_MADRE = "padre_madre"
    ESTUDIANTE = "estudiante"
    EGRESADO = "egresado"
    ADMINISTRATIVO = "administrativo"
    SECTOR_PRODUCTIVO = "sector_productivo"

    @property
    def label(self) -> str:
        return ESTAMENTO_LABELS[self]


ESTAMENTO_LABELS = {
    Estamento.DIRECTIVO: "Directivo(a)",
    Estamento.DOCENTE: "Docente",
    Estamento.PADRE_MADRE: "Padre o madre de familia",
    Estamento.ESTUDIANTE: "Estudiante",
    Estamento.EGRESADO: "Egresado(a)",
    Estamento.ADMINISTRATIVO: "Administrativo(a)",
    Estamento.SECTOR_PRODUCTIVO: "Sector productivo",
}


class Vigencia(PyEnum):
    """The team's verdict on one element of the identity."""

    VIGENTE = "vigente"
    AJUSTAR = "ajustar"

    @property
    def label(self) -> str:
        return {"vigente": "Sigue vigente", "ajustar": "Requiere ajustes"}[self.value]


class IdentityReview(Base):
    """The revisión de la identidad institucional: what it says and whether it still holds."""

    __tablename__ = "identity_reviews"

    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), primary_key=True)
    mision: Mapped[str] = mapped_column(Text, default="")
    vision: Mapped[str] = mapped_column(Text, default="")
    principios: Mapped[str] = mapped_column(Text, default="")
    # Where the PEI is adopted and kept ("Acuerdo 03 de 2021 del Consejo Directivo").
    pei_reference: Mapped[str] = mapped_column(String(MAX_REFERENCE), default="")
    mision_vigencia: Mapped[Vigencia | None] = mapped_column(str_enum(Vigencia, "mision_vigencia"))
    vision_vigencia: Mapped[Vigencia | None] = mapped_column(str_enum(Vigencia, "vision_vigencia"))
    principios_vigencia: Mapped[Vigencia | None] = mapped_column(
        str_enum(Vigencia, "principios_vigencia"))
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    updated_by: Mapped[User | None] = relationship()


team_member_areas = Table(
    "team_member_areas", Base.metadata,
    Column("member_id", ForeignKey("team_members.id"), primary_key=True),
    Column("area_id", ForeignKey("catalog_areas.id"), primary_key=True),
)


class TeamMember(Base):
    """A member of the equipo de gestión of one Ruta, with the áreas they work on."""

    __tablename__ = "team_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    estamento: Mapped[Estamento] = mapped_column(str_enum(Estamento, "estamento"))
    # The account of role ``equipo`` with this e-mail at the same school, when there is one.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped by every edit of the member (their áreas): a form drawn from an older version is
    # stale (``StaleEdit``), so two people editing one member never silently overwrite.
    version: Mapped[int] = mapped_column(Integer, default=1)

    user: Mapped[User | None] = relationship()
    areas: Mapped[list[CatalogArea]] = relationship(secondary=team_member_areas,
                                                    order_by=CatalogArea.position)

    __table_args__ = (
        UniqueConstraint("ruta_id", "email"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )


class Valoracion(Base):
    """One componente's valoración in one Ruta. ``level`` NULL: saved, not rated yet."""

    __tablename__ = "valoraciones"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    componente_id: Mapped[int] = mapped_column(ForeignKey("catalog_componentes.id"))
    level: Mapped[int | None] = mapped_column(Integer)
    evidence: Mapped[str] = mapped_column(Text, default="")
    comments: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Bumped by every save that changes the row: the proceso form carries each componente's
    # version, and a save drawn from an older one is stale (``StaleEdit``).
    version: Mapped[int] = mapped_column(Integer, default=1)

    componente: Mapped[CatalogComponente] = relationship()
    updated_by: Mapped[User | None] = relationship()

    __table_args__ = (
        UniqueConstraint("ruta_id", "componente_id"),
        CheckConstraint("level IS NULL OR level BETWEEN 1 AND 4", name="level_range"),
    )


class Priorizacion(Base):
    """How the team weighs one oportunidad de mejoramiento: urgencia, tendencia, impacto."""

    __tablename__ = "priorizaciones"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    componente_id: Mapped[int] = mapped_column(ForeignKey("catalog_componentes.id"))
    urgencia: Mapped[int] = mapped_column(Integer)
    tendencia: Mapped[int] = mapped_column(Integer)
    impacto: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        UniqueConstraint("ruta_id", "componente_id"),
        CheckConstraint("urgencia BETWEEN 1 AND 5", name="urgencia_range"),
        CheckConstraint("tendencia BETWEEN 1 AND 5", name="tendencia_range"),
        CheckConstraint("impacto BETWEEN 1 AND 5", name="impacto_range"),
    )
