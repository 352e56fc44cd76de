"""The catalog tables: versions of the instrument, their áreas, procesos and componentes.

Also the crosswalks between versions (``Crosswalk``, read by ``workflow.catalogo.crosswalk``),
the versioned ``RuleSet`` (the settings that decide a Ruta's results), each Secretaría's
``InstrumentSettings`` (its current catalog and rule set), the columns that pin a Ruta to its
catalog and rule set, and the scope rule of ``Catalog``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from workflow.catalogo import tree
from workflow.models import Base, Ruta, Secretaria, User, utcnow
from workflow.scoping import scope_rule

# The valoración levels of every catalog's scale (``Catalog.scale``).
LEVELS = (1, 2, 3, 4)
MAX_NAME = 300
MAX_TITLE = 300


class Catalog(Base):
    """One version of the instrument. Rows below it never change once it is stored."""

    __tablename__ = "catalogs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The version's stable name, as in the file's "id" (``guia34-2008``).
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    year: Mapped[int] = mapped_column(Integer)
    # The 1–4 valoración scale: [{level, name, summary}], as the file gave it.
    scale: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # NULL for the catalogs every Secretaría may use (shipped or loaded from the console);
    # otherwise the Secretaría that loaded or adapted it, the only one that sees it.
    secretaria_id: Mapped[int | None] = mapped_column(ForeignKey("secretarias.id"), index=True)
    derived_from_id: Mapped[int | None] = mapped_column(ForeignKey("catalogs.id"))
    # Where it came from: a file name, or the adaptation it is.
    source: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # The área rows, for storing a catalog; reading goes through ``areas`` (the cached tree).
    area_rows: Mapped[list[CatalogArea]] = relationship(
        back_populates="catalog", order_by="CatalogArea.position")
    derived_from: Mapped[Catalog | None] = relationship(remote_side="Catalog.id")
    secretaria: Mapped[Secretaria | None] = relationship()

    __table_args__ = (
        CheckConstraint("year BETWEEN 1990 AND 2100", name="year_range"),
    )

    def level_name(self, level: int | None) -> str:
        for step in self.scale:
            if step["level"] == level:
                return str(step["name"])
        return ""

    @property
    def areas(self) -> tuple[tree.AreaNode, ...]:
        """The whole tree below the catalog as immutable values: read in one statement the
        first time a process needs it, then from the process's cache (issue 17)."""
        # Kept on the row too: a row that outlives its session (a streamed export) still has
        # the tree it read.
        known: tuple[tree.AreaNode, ...] | None = self.__dict__.get("_tree")
        if known is not None:
            return known
        session = object_session(self)
        if session is None or self.id is None:
            raise RuntimeError("A catalog's tree is read through its session.")
        key = (str(session.get_bind().url), self.id, self.slug, self.created_at)
        catalog_id = self.id

        def read() -> list[tree.Row]:
            statement = (
                select(CatalogArea.id, CatalogArea.catalog_id, CatalogArea.code,
                       CatalogArea.name, CatalogArea.position,
                       CatalogProceso.id, CatalogProceso.code, CatalogProceso.name,
                       CatalogProceso.position,
                       CatalogComponente.id, CatalogComponente.code, CatalogComponente.name,
                       CatalogComponente.position)
                .outerjoin(CatalogProceso, CatalogProceso.area_id == CatalogArea.id)
                .outerjoin(CatalogComponente, CatalogComponente.proceso_id == CatalogProceso.id)
                .where(CatalogArea.catalog_id == catalog_id))
            return [(tuple(row[0:5]),
                     None if row[5] is None else tuple(row[5:9]),
                     None if row[9] is None else tuple(row[9:13]))  # type: ignore[misc]
                    for row in session.execute(statement)]

        self.__dict__["_tree"] = found = tree.areas_of(key, catalog_id, read)
        return found

    @property
    def componente_nodes(self) -> list[tree.ComponenteNode]:
        """Every componente of the cached tree, in the instrument's order (no statement)."""
        return [componente for area in self.areas for proceso in area.procesos
                for componente in proceso.componentes]

    @property
    def componentes(self) -> list[CatalogComponente]:
        """Every componente as rows, in the instrument's order, for what links to them (one
        statement; reading needs only ``componente_nodes``)."""
        session = object_session(self)
        if session is None:
            raise RuntimeError("A catalog's componentes are read through its session.")
        return list(session.scalars(
            select(CatalogComponente)
            .join(CatalogProceso, CatalogProceso.id == CatalogComponente.proceso_id)
            .join(CatalogArea, CatalogArea.id == CatalogProceso.area_id)
            .where(CatalogComponente.catalog_id == self.id)
            .order_by(CatalogArea.position, CatalogProceso.position,
                      CatalogComponente.position)))

    @property
    def label(self) -> str:
        return f"{self.title} ({self.slug})"


@scope_rule(Catalog, not_found="No encontramos ese catálogo.")
def _catalogs(actor: User, statement: Select[Any]) -> Select[Any]:
    # Everyone uses the shared catalogs and their own Secretaría's adaptations.
    return statement.where(or_(Catalog.secretaria_id.is_(None),
                               Catalog.secretaria_id == actor.secretaria_id))


class CatalogArea(Base):
    __tablename__ = "catalog_areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    catalog_id: Mapped[int] = mapped_column(ForeignKey("catalogs.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(MAX_NAME))
    position: Mapped[int] = mapped_column(Integer)

    catalog: Mapped[Catalog] = relationship(back_populates="area_rows")
    procesos: Mapped[list[CatalogProceso]] = relationship(
        back_populates="area", order_by="CatalogProceso.position")

    __table_args__ = (UniqueConstraint("catalog_id", "code"),)

    @property
    def componentes(self) -> list[CatalogComponente]:
        return [componente for proceso in self.procesos for componente in proceso.componentes]


class CatalogProceso(Base):
    __tablename__ = "catalog_procesos"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("catalog_areas.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(MAX_NAME))
    position: Mapped[int] = mapped_column(Integer)

    area: Mapped[CatalogArea] = relationship(back_populates="procesos")
    componentes: Mapped[list[CatalogComponente]] = relationship(
        back_populates="proceso", order_by="CatalogComponente.position")

    __table_args__ = (UniqueConstraint("area_id", "code"),)


class CatalogComponente(Base):
    __tablename__ = "catalog_componentes"

    id: Mapped[int] = mapped_column(primary_key=True)
    proceso_id: Mapped[int] = mapped_column(ForeignKey("catalog_procesos.id"), index=True)
    # Repeated from the proceso so "is this componente of that version?" is one comparison.
    catalog_id: Mapped[int] = mapped_column(ForeignKey("catalogs.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(MAX_NAME))
    position: Mapped[int] = mapped_column(Integer)

    proceso: Mapped[CatalogProceso] = relationship(back_populates="componentes")
    catalog: Mapped[Catalog] = relationship()

    __table_args__ = (UniqueConstraint("catalog_id", "code"),)


class RuleSet(Base):
    """One version of the settings that decide a Ruta's results, never edited in place.

    A Secretaría's change of any setting stores a new version (``number`` + 1); every Ruta keeps
    the version it was opened with (``Ruta.rule_set_id``), so a change never moves a verdict of
    a Ruta already opened, sent, approved or closed.
    """

    __tablename__ = "rule_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"), index=True)
    # 1 for a Secretaría's first version, 2 for the next, ...
    number: Mapped[int] = mapped_column(Integer)
    # Evidence is required for levels >= this; 5 means never.
    evidence_from_level: Mapped[int] = mapped_column(Integer, default=3)
    # Levels >= this are fortalezas, the ones below oportunidades de mejoramiento.
    fortaleza_from_level: Mapped[int] = mapped_column(Integer, default=3)
    # How urgencia, tendencia and impacto make one score: "suma" (Guía 2026) or "producto".
    priority_formula: Mapped[str] = mapped_column(String(16), default="suma")
    # How many of the prioritised oportunidades the PMI must attend or defer with a reason.
    priority_count: Mapped[int] = mapped_column(Integer, default=3)
    # A text meant to be read (objetivo, meta, actividad, hallazgo, misión...) has at least
    # this many characters and words.
    min_text_chars: Mapped[int] = mapped_column(Integer, default=20)
    min_text_words: Mapped[int] = mapped_column(Integer, default=3)
    # The equipo de gestión needed to send the autoevaluación.
    team_min_members: Mapped[int] = mapped_column(Integer, default=4)
    team_min_estamentos: Mapped[int] = mapped_column(Integer, default=2)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        UniqueConstraint("secretaria_id", "number", name="uq_rule_sets_number"),
        CheckConstraint("evidence_from_level BETWEEN 1 AND 5", name="evidence_from_level"),
        CheckConstraint("fortaleza_from_level BETWEEN 2 AND 4", name="fortaleza_from_level"),
        CheckConstraint("priority_formula IN ('suma', 'producto')", name="priority_formula"),
        CheckConstraint("priority_count BETWEEN 1 AND 10", name="priority_count"),
        CheckConstraint("min_text_chars BETWEEN 1 AND 200", name="min_text_chars"),
        CheckConstraint("min_text_words BETWEEN 1 AND 30", name="min_text_words"),
        CheckConstraint("team_min_members BETWEEN 1 AND 30", name="team_min_members"),
        CheckConstraint("team_min_estamentos BETWEEN 1 AND 7", name="team_min_estamentos"),
    )

    @property
    def label(self) -> str:
        return f"Conjunto de reglas {self.number}"


class InstrumentSettings(Base):
    """A Secretaría's choices about the autoevaluación: its current catalog and rule set.

    No row means the defaults: the shipped Guía 34 of 2008 and the default rules.
    """

    __tablename__ = "instrument_settings"

    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"), primary_key=True)
    catalog_id: Mapped[int | None] = mapped_column(ForeignKey("catalogs.id"))
    # The rule set Rutas opened from now on take.
    rule_set_id: Mapped[int | None] = mapped_column(ForeignKey("rule_sets.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    catalog: Mapped[Catalog | None] = relationship()
    rule_set: Mapped[RuleSet | None] = relationship()


# The version a Ruta was opened with. Declared here, next to what it points to, so the core
# models need not know about catalogs; declarative maps a column added to the class this way
# exactly as if it had been written in its body.
Ruta.catalog_id = mapped_column(  # type: ignore[attr-defined]
    "catalog_id", ForeignKey("catalogs.id"), nullable=True, index=True)
Ruta.catalog = relationship(Catalog)  # type: ignore[attr-defined]
# The rule set a Ruta was opened with (NULL: the defaults, for a Ruta opened without a set).
Ruta.rule_set_id = mapped_column(  # type: ignore[attr-defined]
    "rule_set_id", ForeignKey("rule_sets.id"), nullable=True, index=True)
Ruta.rule_set = relationship(RuleSet)  # type: ignore[attr-defined]


class Crosswalk(Base):
    """A crosswalk from one catalog version to another, shared or a Secretaría's own."""

    __tablename__ = "crosswalks"

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL: shipped or loaded from the console, for every Secretaría without its own.
    secretaria_id: Mapped[int | None] = mapped_column(ForeignKey("secretarias.id"), index=True)
    source_catalog_id: Mapped[int] = mapped_column(ForeignKey("catalogs.id"), index=True)
    target_catalog_id: Mapped[int] = mapped_column(ForeignKey("catalogs.id"), index=True)
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    # How it was built, as the file's "nota" says.
    note: Mapped[str] = mapped_column(Text, default="")
    # Where it came from: the file name.
    source: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # NULL: loaded by the system (shipped) or from the console.
    loaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    source_catalog: Mapped[Catalog] = relationship(foreign_keys=[source_catalog_id])
    target_catalog: Mapped[Catalog] = relationship(foreign_keys=[target_catalog_id])
    secretaria: Mapped[Secretaria | None] = relationship()
    loaded_by: Mapped[User | None] = relationship()
    entries: Mapped[list[CrosswalkEntry]] = relationship(
        back_populates="crosswalk", order_by="CrosswalkEntry.id",
        # Replacing a crosswalk deletes its entries in one statement first.
        passive_deletes="all")

    __table_args__ = (
        UniqueConstraint("secretaria_id", "source_catalog_id", "target_catalog_id",
                         name="uq_crosswalks_pair"),
        # NULLs are distinct in a unique constraint: one shared crosswalk per pair needs this.
        Index("uq_crosswalks_shared_pair", "source_catalog_id", "target_catalog_id",
              unique=True, postgresql_where=text("secretaria_id IS NULL"),
              sqlite_where=text("secretaria_id IS NULL")),
        CheckConstraint("source_catalog_id <> target_catalog_id", name="distinct_versions"),
    )

    @property
    def label(self) -> str:
        return f"{self.source_catalog.slug} → {self.target_catalog.slug}"


@scope_rule(Crosswalk, not_found="No encontramos esa tabla de equivalencias.")
def _crosswalks(actor: User, statement: Select[Any]) -> Select[Any]:
    return statement.where(or_(Crosswalk.secretaria_id.is_(None),
                               Crosswalk.secretaria_id == actor.secretaria_id))


class CrosswalkEntry(Base):
    """One componente of the source version and its equivalent (NULL: «sin equivalente»)."""

    __tablename__ = "crosswalk_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    crosswalk_id: Mapped[int] = mapped_column(ForeignKey("crosswalks.id"), index=True)
    source_componente_id: Mapped[int] = mapped_column(ForeignKey("catalog_componentes.id"))
    target_componente_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalog_componentes.id"))

    crosswalk: Mapped[Crosswalk] = relationship(back_populates="entries")
    source_componente: Mapped[CatalogComponente] = relationship(
        foreign_keys=[source_componente_id])
    target_componente: Mapped[CatalogComponente | None] = relationship(
        foreign_keys=[target_componente_id])

    __table_args__ = (UniqueConstraint("crosswalk_id", "source_componente_id",
                                       name="uq_crosswalk_entries_source"),)
