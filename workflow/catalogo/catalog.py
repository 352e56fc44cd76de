"""Versioned autoevaluación instruments: the áreas, procesos and componentes of Guía 34.

A catalog is data, loaded from a JSON file (the two shipped with the project live in
``catalogs/``; the format is read by ``workflow.catalogo.files``) or derived from another
catalog by an administrator. Catalogs are never edited in place: an adaptation is a new
version, and every Ruta is pinned to the version it was opened with (``Ruta.catalog_id``), so
changing the instrument never alters a Ruta in progress.

This module stores catalogs, says which one a Secretaría uses and keeps its ``Rules``; the
tables are in ``workflow.catalogo.models``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from workflow.catalogo.files import (
    CatalogProblems,
    CatalogSpec,
    Problem,
    catalog_to_dict,
    parse_catalog,
    validate_catalog,
)
from workflow.catalogo.models import (
    LEVELS,
    Catalog,
    CatalogArea,
    CatalogComponente,
    CatalogProceso,
    InstrumentSettings,
)
from workflow.errors import Forbidden, InvalidInput, NotFound
from workflow.models import User, utcnow
from workflow.roles import Role

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "catalogs"
# The instrument Circular 0488 de 2023 refers to: current for a Secretaría that chose none.
DEFAULT_CATALOG_SLUG = "guia34-2008"
DEFAULT_EVIDENCE_FROM_LEVEL = 3
DEFAULT_FORTALEZA_FROM_LEVEL = 3


@dataclass(frozen=True)
class Rules:
    """The autoevaluación rules in force for a Secretaría."""

    evidence_from_level: int = DEFAULT_EVIDENCE_FROM_LEVEL
    fortaleza_from_level: int = DEFAULT_FORTALEZA_FROM_LEVEL

    def needs_evidence(self, level: int | None) -> bool:
        return level is not None and level >= self.evidence_from_level

    def is_fortaleza(self, level: int) -> bool:
        return level >= self.fortaleza_from_level

    @property
    def evidence_label(self) -> str:
        if self.evidence_from_level > 4:
            return "La evidencia es opcional en todos los niveles."
        if self.evidence_from_level == 4:
            return "El nivel 4 exige evidencia."
        levels = [str(level) for level in LEVELS if level >= self.evidence_from_level]
        return f"Los niveles {', '.join(levels[:-1])} y {levels[-1]} exigen evidencia."

    @property
    def cutoff_label(self) -> str:
        def levels(low: int, high: int) -> str:
            if low == high:
                return f"nivel {low}"
            return f"niveles {low} {'y' if high == low + 1 else 'a'} {high}"

        return (f"Oportunidad de mejoramiento: {levels(1, self.fortaleza_from_level - 1)}. "
                f"Fortaleza: {levels(self.fortaleza_from_level, 4)}.")


# --- storing ------------------------------------------------------------------------------


def store_catalog(session: Session, spec: CatalogSpec, *, source: str,
                  secretaria_id: int | None = None, derived_from: Catalog | None = None,
                  now: datetime | None = None) -> Catalog:
    """Store a validated catalog as a new version. Flushes.

    Refuses (``CatalogProblems``) a version name already in use: versions are never replaced.
    """
    if session.scalar(select(Catalog.id).where(Catalog.slug == spec.slug)) is not None:
        raise CatalogProblems([Problem(None, f"Ya existe un catálogo con el identificador "
                                             f"«{spec.slug}». Una versión nunca se reemplaza: "
                                             "use otro «id».")])
    catalog = Catalog(slug=spec.slug, title=spec.title, year=spec.year, scale=spec.scale,
                      secretaria_id=secretaria_id, derived_from=derived_from,
                      source=source[:200], created_at=now or utcnow())
    session.add(catalog)
    session.flush()
    for area_position, area_spec in enumerate(spec.areas, start=1):
        area = CatalogArea(catalog=catalog, code=area_spec.code, name=area_spec.name,
                           position=area_position)
        session.add(area)
        for proceso_position, proceso_spec in enumerate(area_spec.procesos, start=1):
            proceso = CatalogProceso(area=area, code=proceso_spec.code, name=proceso_spec.name,
                                     position=proceso_position)
            session.add(proceso)
            for position, componente_spec in enumerate(proceso_spec.componentes, start=1):
                session.add(CatalogComponente(proceso=proceso, catalog_id=catalog.id,
                                              code=componente_spec.code,
                                              name=componente_spec.name, position=position))
    session.flush()
    return catalog


def _require_admin(actor: User | None) -> None:
    if actor is not None and (actor.role is not Role.ADMINISTRADOR or not actor.active):
        raise Forbidden("Solo la administración de la Secretaría gestiona los instrumentos "
                        "de autoevaluación.")


def load_catalog(session: Session, content: bytes | str, *, source: str,
                 actor: User | None = None, now: datetime | None = None) -> Catalog:
    """Validate and store a catalog file. ``actor=None`` (the console) makes it shared.

    Loaded by an administrator, the catalog belongs to their Secretaría only.
    """
    _require_admin(actor)
    return store_catalog(session, parse_catalog(content), source=source,
                         secretaria_id=None if actor is None else actor.secretaria_id, now=now)


def shipped_files() -> list[Path]:
    return sorted(SHIPPED_DIR.glob("*.json"))


def load_shipped_catalogs(session: Session) -> list[Catalog]:
    """Store every catalog shipped in ``catalogs/`` that is not stored yet. Flushes."""
    loaded = []
    for path in shipped_files():
        spec = parse_catalog(path.read_bytes())
        if session.scalar(select(Catalog.id).where(Catalog.slug == spec.slug)) is None:
            loaded.append(store_catalog(session, spec, source=path.name))
    return loaded


@dataclass
class Derivation:
    """What an administrator changes when adapting a catalog: componentes only."""

    slug: str
    title: str
    renames: dict[str, str] = field(default_factory=dict)  # code → new name
    removals: set[str] = field(default_factory=set)  # codes
    additions: list[tuple[str, str, str]] = field(default_factory=list)  # proceso, code, name


def derive_catalog(session: Session, source: Catalog, change: Derivation, *, actor: User,
                   now: datetime | None = None) -> Catalog:
    """A new version copied from ``source`` with componentes renamed, removed or added.

    The new version belongs to the administrator's Secretaría. ``source`` is not touched.
    """
    _require_admin(actor)
    if source.secretaria_id not in (None, actor.secretaria_id):
        raise NotFound("No encontramos ese catálogo.")
    known = {componente.code for componente in source.componentes}
    problems = [Problem(None, f"El componente «{code}» no existe en «{source.slug}».")
                for code in sorted((set(change.renames) | change.removals) - known)]
    data = catalog_to_dict(source)
    data["id"] = change.slug.strip()
    data["title"] = change.title
    procesos = {proceso["code"]: proceso for area in data["areas"]
                for proceso in area["procesos"]}
    for proceso in procesos.values():
        proceso["componentes"] = [
            {"code": item["code"], "name": change.renames.get(item["code"], item["name"])}
            for item in proceso["componentes"] if item["code"] not in change.removals]
    for proceso_code, code, name in change.additions:
        if proceso_code not in procesos:
            problems.append(Problem(None, f"El proceso «{proceso_code}» no existe en "
                                          f"«{source.slug}»."))
            continue
        procesos[proceso_code]["componentes"].append({"code": code.strip(), "name": name})
    try:
        spec = validate_catalog(data)
    except CatalogProblems as refused:
        problems.extend(refused.problems)
    if problems:
        raise CatalogProblems(problems)
    return store_catalog(session, spec, source=f"Adaptación de {source.slug}",
                         secretaria_id=actor.secretaria_id, derived_from=source, now=now)


# --- which catalogs a Secretaría uses ------------------------------------------------------




def catalog_counts(session: Session,
                   catalog_ids: Iterable[int] | None = None) -> dict[int, tuple[int, int, int]]:
    """(áreas, procesos, componentes) of each catalog, counted in three queries."""
    def counted(statement: Select[Any]) -> dict[int, int]:
        return {row[0]: row[1] for row in session.execute(statement)}

    areas = counted(select(CatalogArea.catalog_id, func.count())
                    .group_by(CatalogArea.catalog_id))
    procesos = counted(select(CatalogArea.catalog_id, func.count(CatalogProceso.id))
                       .join(CatalogProceso.area).group_by(CatalogArea.catalog_id))
    componentes = counted(select(CatalogComponente.catalog_id, func.count())
                          .group_by(CatalogComponente.catalog_id))
    ids = list(catalog_ids) if catalog_ids is not None else list(areas)
    return {catalog_id: (areas.get(catalog_id, 0), procesos.get(catalog_id, 0),
                         componentes.get(catalog_id, 0)) for catalog_id in ids}


def settings_of(session: Session, secretaria_id: int) -> InstrumentSettings | None:
    return session.get(InstrumentSettings, secretaria_id)


def current_catalog(session: Session, secretaria_id: int) -> Catalog | None:
    """The catalog new Rutas of the Secretaría are opened with (None when none is loaded)."""
    settings = settings_of(session, secretaria_id)
    if settings is not None and settings.catalog is not None:
        return settings.catalog
    return session.scalar(select(Catalog).where(Catalog.slug == DEFAULT_CATALOG_SLUG))


def current_catalog_id(session: Session, secretaria_id: int) -> int | None:
    found = current_catalog(session, secretaria_id)
    return None if found is None else found.id


def rules_for(session: Session, secretaria_id: int) -> Rules:
    settings = settings_of(session, secretaria_id)
    if settings is None:
        return Rules()
    return Rules(settings.evidence_from_level, settings.fortaleza_from_level)


def _settings_row(session: Session, secretaria_id: int) -> InstrumentSettings:
    settings = settings_of(session, secretaria_id)
    if settings is None:
        settings = InstrumentSettings(secretaria_id=secretaria_id,
                                      evidence_from_level=DEFAULT_EVIDENCE_FROM_LEVEL,
                                      fortaleza_from_level=DEFAULT_FORTALEZA_FROM_LEVEL)
        session.add(settings)
    return settings


def set_current_catalog(session: Session, catalog: Catalog, *, actor: User) -> None:
    """Make ``catalog`` the one new Rutas open with. Rutas already open keep theirs."""
    _require_admin(actor)
    if catalog.secretaria_id not in (None, actor.secretaria_id):
        raise NotFound("No encontramos ese catálogo.")
    settings = _settings_row(session, actor.secretaria_id)
    settings.catalog_id = catalog.id
    settings.updated_at = utcnow()
    session.flush()


def set_rules(session: Session, *, actor: User, evidence_from_level: str | int,
              fortaleza_from_level: str | int) -> Rules:
    """Change when evidence is required and where fortalezas start. Flushes."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    evidence = _int_in(evidence_from_level, range(1, 6))
    if evidence is None:
        errors["evidence_from_level"] = ["Elija desde qué nivel se exige evidencia (1 a 4), o "
                                         "«nunca»."]
    cutoff = _int_in(fortaleza_from_level, range(2, 5))
    if cutoff is None:
        errors["fortaleza_from_level"] = ["Elija desde qué nivel un componente es fortaleza "
                                          "(2, 3 o 4)."]
    if errors:
        raise InvalidInput(errors)
    settings = _settings_row(session, actor.secretaria_id)
    settings.evidence_from_level = evidence  # type: ignore[assignment]
    settings.fortaleza_from_level = cutoff  # type: ignore[assignment]
    settings.updated_at = utcnow()
    session.flush()
    return Rules(settings.evidence_from_level, settings.fortaleza_from_level)


def _int_in(value: str | int, allowed: range) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number in allowed else None
