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

from workflow.catalogo import crosswalk
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
    RuleSet,
)
from workflow.errors import Forbidden, InvalidInput, NotFound
from workflow.models import Ruta, School, User, utcnow
from workflow.roles import Role

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "catalogs"
# The instrument Circular 0488 de 2023 refers to: current for a Secretaría that chose none.
DEFAULT_CATALOG_SLUG = "guia34-2008"
PRIORITY_FORMULAS = {"suma": "suma (urgencia + tendencia + impacto)",
                     "producto": "producto (urgencia × tendencia × impacto)"}


@dataclass(frozen=True)
class Rules:
    """The settings that decide a Ruta's results: one ``RuleSet`` version, as plain values."""

    evidence_from_level: int = 3
    fortaleza_from_level: int = 3
    priority_formula: str = "suma"
    priority_count: int = 3
    min_text_chars: int = 20
    min_text_words: int = 3
    team_min_members: int = 4
    team_min_estamentos: int = 2
    # The version the values come from; None for the defaults of a Ruta opened without one.
    number: int | None = None

    def needs_evidence(self, level: int | None) -> bool:
        return level is not None and level >= self.evidence_from_level

    def is_fortaleza(self, level: int) -> bool:
        return level >= self.fortaleza_from_level

    def priority_score(self, urgencia: int, tendencia: int, impacto: int) -> int:
        if self.priority_formula == "producto":
            return urgencia * tendencia * impacto
        return urgencia + tendencia + impacto

    def is_sentence(self, text: str) -> bool:
        """Long enough to be read: the rule set's characters and words."""
        cleaned = " ".join(text.split())
        return (len(cleaned) >= self.min_text_chars
                and len(cleaned.split(" ")) >= self.min_text_words)

    @property
    def sentence_label(self) -> str:
        return (f"al menos {self.min_text_chars} caracteres y {self.min_text_words} "
                f"{'palabra' if self.min_text_words == 1 else 'palabras'}")

    @property
    def formula_label(self) -> str:
        return PRIORITY_FORMULAS[self.priority_formula]

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in RULE_FIELDS}

    @classmethod
    def of(cls, row: RuleSet | None) -> Rules:
        if row is None:
            return cls()
        return cls(**{name: getattr(row, name) for name in RULE_FIELDS}, number=row.number)

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
    # The crosswalks between versions are shipped beside the catalogs (``crosswalk-*.json``).
    return sorted(path for path in SHIPPED_DIR.glob("*.json")
                  if not path.name.startswith(crosswalk.FILE_PREFIX))


def load_shipped_catalogs(session: Session) -> list[Catalog]:
    """Store every catalog shipped in ``catalogs/`` that is not stored yet, then the shipped
    crosswalks between them that are not stored yet. Flushes."""
    loaded = []
    for path in shipped_files():
        spec = parse_catalog(path.read_bytes())
        if session.scalar(select(Catalog.id).where(Catalog.slug == spec.slug)) is None:
            loaded.append(store_catalog(session, spec, source=path.name))
    crosswalk.load_shipped_crosswalks(session)
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


RULE_FIELDS = ("evidence_from_level", "fortaleza_from_level", "priority_formula",
               "priority_count", "min_text_chars", "min_text_words", "team_min_members",
               "team_min_estamentos")


def current_rule_set(session: Session, secretaria_id: int) -> RuleSet | None:
    """The rule set Rutas of the Secretaría opened now take (None: never set, the defaults)."""
    settings = settings_of(session, secretaria_id)
    return None if settings is None else settings.rule_set


def rules_for(session: Session, secretaria_id: int) -> Rules:
    """The Secretaría's current rules: what a Ruta opened now would take."""
    return Rules.of(current_rule_set(session, secretaria_id))


def rules_of(session: Session, ruta: Ruta) -> Rules:
    """The rules pinned to ``ruta`` when it opened; a later change never alters them."""
    rule_set_id = ruta.rule_set_id  # type: ignore[attr-defined]
    return Rules.of(None if rule_set_id is None else session.get(RuleSet, rule_set_id))


def pin_rule_set(session: Session, secretaria_id: int) -> int:
    """The id of the Secretaría's current rule set, storing the defaults as version 1 when it
    has none yet, so that every Ruta opened is pinned to a stored version. Flushes."""
    found = current_rule_set(session, secretaria_id)
    if found is None:
        found = _store_rule_set(session, secretaria_id, Rules(), actor=None)
    return found.id


def _store_rule_set(session: Session, secretaria_id: int, rules: Rules, *,
                    actor: User | None) -> RuleSet:
    number = (session.scalar(select(func.max(RuleSet.number))
                             .where(RuleSet.secretaria_id == secretaria_id)) or 0) + 1
    row = RuleSet(secretaria_id=secretaria_id, number=number, created_at=utcnow(),
                  created_by_id=None if actor is None else actor.id, **rules.as_dict())
    session.add(row)
    session.flush()
    settings = _settings_row(session, secretaria_id)
    settings.rule_set_id = row.id
    settings.updated_at = utcnow()
    session.flush()
    return row


def _settings_row(session: Session, secretaria_id: int) -> InstrumentSettings:
    settings = settings_of(session, secretaria_id)
    if settings is None:
        settings = InstrumentSettings(secretaria_id=secretaria_id)
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


# (field, allowed values, Spanish message when the value is not one of them)
_RULE_INPUTS: tuple[tuple[str, range | tuple[str, ...], str], ...] = (
    ("evidence_from_level", range(1, 6),
     "Elija desde qué nivel se exige evidencia (1 a 4), o «nunca»."),
    ("fortaleza_from_level", range(2, 5),
     "Elija desde qué nivel un componente es fortaleza (2, 3 o 4)."),
    ("priority_formula", tuple(PRIORITY_FORMULAS),
     "Elija cómo se calcula el puntaje de prioridad: suma o producto."),
    ("priority_count", range(1, 11),
     "Las oportunidades prioritarias que el PMI debe atender son de 1 a 10."),
    ("min_text_chars", range(1, 201),
     "El mínimo de caracteres de un texto es un número de 1 a 200."),
    ("min_text_words", range(1, 31),
     "El mínimo de palabras de un texto es un número de 1 a 30."),
    ("team_min_members", range(1, 31),
     "El mínimo de integrantes del equipo de gestión es un número de 1 a 30."),
    ("team_min_estamentos", range(1, 8),
     "El mínimo de estamentos del equipo de gestión es un número de 1 a 7."),
)


def set_rules(session: Session, *, actor: User, **given: str | int) -> tuple[Rules, bool]:
    """Store a new rule set version from the given values (absent ones keep the current).

    Returns the rules and whether a new version was stored (False when nothing changed).
    Rutas already opened keep their version. All or nothing; flushes.
    """
    _require_admin(actor)
    current = rules_for(session, actor.secretaria_id)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name, allowed, message in _RULE_INPUTS:
        raw = given.get(name, getattr(current, name))
        if isinstance(allowed, range):
            value: Any = _int_in(raw, allowed)
        else:
            value = str(raw).strip() if str(raw).strip() in allowed else None
        if value is None:
            errors[name] = [message]
        values[name] = value
    if errors:
        raise InvalidInput(errors)
    wanted = Rules(**values)
    if wanted.as_dict() == current.as_dict() \
            and current_rule_set(session, actor.secretaria_id) is not None:
        return current, False
    row = _store_rule_set(session, actor.secretaria_id, wanted, actor=actor)
    return Rules.of(row), True


USAGE_SAMPLE = 30


@dataclass(frozen=True)
class RuleSetUsage:
    """A rule set version, how many Rutas use it and the first of them (school, horizon)."""

    rule_set: RuleSet
    count: int
    rutas: list[tuple[str, int, int]]


def rule_set_usage(session: Session, secretaria_id: int) -> list[RuleSetUsage]:
    """Every rule set version of the Secretaría, newest first, with the Rutas that use it
    (the first ``USAGE_SAMPLE`` by school name, so the page stays short at any scale)."""
    counts = dict(session.execute(
        select(Ruta.rule_set_id, func.count())  # type: ignore[attr-defined]
        .join(School, School.id == Ruta.school_id)
        .where(School.secretaria_id == secretaria_id)
        .group_by(Ruta.rule_set_id)).all())  # type: ignore[attr-defined]
    found = []
    for row in session.scalars(select(RuleSet).where(RuleSet.secretaria_id == secretaria_id)
                               .order_by(RuleSet.number.desc())):
        count = counts.get(row.id, 0)
        rutas = [] if not count else [
            (name, start, end) for name, start, end in session.execute(
                select(School.name, Ruta.horizon_start_year, Ruta.horizon_end_year)
                .join(School, School.id == Ruta.school_id)
                .where(Ruta.rule_set_id == row.id)  # type: ignore[attr-defined]
                .order_by(School.name, Ruta.horizon_start_year).limit(USAGE_SAMPLE))]
        found.append(RuleSetUsage(row, count, rutas))
    return found


def _int_in(value: str | int, allowed: range) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number in allowed else None


def area_rows(session: Session, catalog_id: int) -> dict[int, CatalogArea]:
    """A catalog's áreas as rows by id, for what links to them (the cached tree holds values,
    not rows)."""
    query = select(CatalogArea).where(CatalogArea.catalog_id == catalog_id)
    return {area.id: area for area in session.scalars(query)}
