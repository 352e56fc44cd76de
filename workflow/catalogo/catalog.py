"""Versioned autoevaluación instruments: the áreas, procesos and componentes of Guía 34.

A catalog is data, loaded from a JSON file (the two shipped with the project live in
``catalogs/``) or derived from another catalog by an administrator. Catalogs are never edited
in place: an adaptation is a new version, and every Ruta is pinned to the version it was
opened with (``Ruta.catalog_id``), so changing the instrument never alters a Ruta in progress.

File problems are reported with the line they are on, so a Secretaría editing a copy of the
file in a text editor knows where to look.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Integer,
    Select,
    String,
    UniqueConstraint,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from workflow.errors import DomainError, Forbidden, InvalidInput, NotFound
from workflow.models import Base, Ruta, Secretaria, User, utcnow
from workflow.roles import Role
from workflow.scoping import scope_rule

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "catalogs"
# The instrument Circular 0488 de 2023 refers to: current for a Secretaría that chose none.
DEFAULT_CATALOG_SLUG = "guia34-2008"
LEVELS = (1, 2, 3, 4)
MAX_FILE_BYTES = 1_000_000

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,59}$")
AREA_CODE_PATTERN = re.compile(r"^[A-Z]{2,10}$")
CODE_SUFFIX_PATTERN = re.compile(r"^[0-9A-Za-z]{1,10}$")
MAX_NAME = 300
MAX_TITLE = 300


# --- models -------------------------------------------------------------------------------


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

    areas: Mapped[list[CatalogArea]] = relationship(
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
    def componentes(self) -> list[CatalogComponente]:
        return [componente for area in self.areas for proceso in area.procesos
                for componente in proceso.componentes]

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

    catalog: Mapped[Catalog] = relationship(back_populates="areas")
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


class InstrumentSettings(Base):
    """A Secretaría's choices about the autoevaluación: its current catalog and its rules.

    No row means the defaults: the shipped Guía 34 of 2008, evidence required from level 3,
    fortaleza from level 3.
    """

    __tablename__ = "instrument_settings"

    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"), primary_key=True)
    catalog_id: Mapped[int | None] = mapped_column(ForeignKey("catalogs.id"))
    # Evidence is required for levels >= this; 5 means never.
    evidence_from_level: Mapped[int] = mapped_column(Integer, default=3)
    # Levels >= this are fortalezas, the ones below oportunidades de mejoramiento.
    fortaleza_from_level: Mapped[int] = mapped_column(Integer, default=3)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    catalog: Mapped[Catalog | None] = relationship()

    __table_args__ = (
        CheckConstraint("evidence_from_level BETWEEN 1 AND 5", name="evidence_from_level"),
        CheckConstraint("fortaleza_from_level BETWEEN 2 AND 4", name="fortaleza_from_level"),
    )


# The version a Ruta was opened with. Declared here, next to what it points to, so the core
# models need not know about catalogs; declarative maps a column added to the class this way
# exactly as if it had been written in its body.
Ruta.catalog_id = mapped_column(  # type: ignore[attr-defined]
    "catalog_id", ForeignKey("catalogs.id"), nullable=True, index=True)
Ruta.catalog = relationship(Catalog)  # type: ignore[attr-defined]

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


# --- reading catalog files ----------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a catalog file, on a line when the file has lines."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return f"Línea {self.line}: {self.message}" if self.line else self.message


class CatalogProblems(DomainError):
    """A catalog that cannot be stored; ``problems`` lists every reason, in file order."""

    status = 422

    def __init__(self, problems: Sequence[Problem]) -> None:
        count = len(problems)
        super().__init__(f"El catálogo no se cargó: tiene {count} "
                         f"problema{'s' if count != 1 else ''}. No se guardó nada.")
        self.problems = list(problems)


class _Located(dict[str, Any]):
    """A JSON object that remembers its line and the line of each of its values."""

    line: int | None = None
    key_lines: dict[str, int]


def _loads_with_lines(text: str) -> Any:
    """``json.loads``, but every object is a ``_Located`` that knows its lines."""
    newlines = [index for index, char in enumerate(text) if char == "\n"]

    def line_of(position: int) -> int:
        return bisect.bisect_left(newlines, position) + 1

    decoder = json.JSONDecoder()

    def parse_object(s_and_end: tuple[str, int], strict: bool, scan_once: Any,
                     object_hook: Any, object_pairs_hook: Any,
                     memo: dict[str, str] | None = None) -> tuple[_Located, int]:
        starts: list[int] = []

        def recording(string: str, index: int) -> Any:
            starts.append(index)
            return scan_once(string, index)

        pairs, end = json.decoder.JSONObject(s_and_end, strict, recording, None,
                                             lambda found: found, memo)
        located = _Located(pairs)
        located.line = line_of(s_and_end[1] - 1)
        located.key_lines = {key: line_of(start) for (key, _), start in zip(pairs, starts,
                                                                           strict=False)}
        return located, end

    decoder.parse_object = parse_object  # type: ignore[assignment]
    # The C scanner ignores ``parse_object``: the pure-Python one honours it.
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    return decoder.decode(text)


@dataclass
class ComponenteSpec:
    code: str
    name: str


@dataclass
class ProcesoSpec:
    code: str
    name: str
    componentes: list[ComponenteSpec] = field(default_factory=list)


@dataclass
class AreaSpec:
    code: str
    name: str
    procesos: list[ProcesoSpec] = field(default_factory=list)


@dataclass
class CatalogSpec:
    """A validated catalog, not yet stored."""

    slug: str
    title: str
    year: int
    scale: list[dict[str, Any]]
    areas: list[AreaSpec]

    @property
    def counts(self) -> tuple[int, int, int]:
        procesos = [proceso for area in self.areas for proceso in area.procesos]
        return (len(self.areas), len(procesos),
                sum(len(proceso.componentes) for proceso in procesos))


class _Checker:
    """Collects problems while reading a decoded catalog, with lines when they are known."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, where: Any, key: str | None, message: str) -> None:
        line = None
        if isinstance(where, _Located):
            line = where.key_lines.get(key, where.line) if key else where.line
        self.problems.append(Problem(line, message))

    def text(self, obj: Mapping[str, Any], key: str, context: str, *,
             limit: int = MAX_NAME) -> str:
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            self.problem(obj, key, f"{context}: falta «{key}» (un texto).")
            return ""
        value = " ".join(value.split())
        if len(value) > limit:
            self.problem(obj, key, f"{context}: «{key}» tiene más de {limit} caracteres.")
        return value

    def items(self, obj: Mapping[str, Any], key: str, context: str) -> list[Any]:
        value = obj.get(key)
        if not isinstance(value, list) or not value:
            self.problem(obj, key, f"{context}: «{key}» debe ser una lista con al menos un "
                                   "elemento.")
            return []
        return value

    def mapping(self, value: Any, parent: Any, key: str, context: str) -> bool:
        if isinstance(value, Mapping):
            return True
        self.problem(parent, key, f"{context}: cada elemento de «{key}» debe ser un objeto "
                                  "entre llaves { }.")
        return False


def _check_scale(check: _Checker, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    scale = []
    seen: set[int] = set()
    for step in check.items(data, "scale", "La escala"):
        if not check.mapping(step, data, "scale", "La escala"):
            continue
        level = step.get("level")
        if isinstance(level, bool) or level not in LEVELS:
            check.problem(step, "level", "La escala: «level» debe ser 1, 2, 3 o 4.")
            continue
        if level in seen:
            check.problem(step, "level", f"La escala: el nivel {level} está repetido.")
            continue
        seen.add(level)
        scale.append({"level": level, "name": check.text(step, "name", f"Nivel {level}"),
                      "summary": check.text(step, "summary", f"Nivel {level}", limit=1000)})
    if data.get("scale") and isinstance(data.get("scale"), list) and seen != set(LEVELS) \
            and len(seen) == len(scale):
        missing = ", ".join(str(level) for level in LEVELS if level not in seen)
        check.problem(data, "scale",
                      f"La escala debe describir los niveles 1 a 4: falta {missing}.")
    return sorted(scale, key=lambda step: step["level"])


def validate_catalog(data: Any) -> CatalogSpec:
    """The catalog ``data`` describes, or ``CatalogProblems`` with every problem found."""
    check = _Checker()
    if not isinstance(data, Mapping):
        raise CatalogProblems([Problem(1, "El archivo debe ser un objeto JSON con «id», "
                                          "«title», «year», «scale» y «areas».")])
    slug = data.get("id")
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        check.problem(data, "id", "«id» debe ser el nombre de la versión en minúsculas, con "
                                  "números y guiones (por ejemplo «guia34-ibague-2025»).")
        slug = ""
    title = check.text(data, "title", "El catálogo", limit=MAX_TITLE)
    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100:
        check.problem(data, "year", "«year» debe ser un año entre 1990 y 2100.")
        year = 0
    scale = _check_scale(check, data)

    areas: list[AreaSpec] = []
    codes: dict[str, int | None] = {}

    def unique(obj: Any, code: str) -> bool:
        if code in codes:
            where = f" (línea {codes[code]})" if codes[code] else ""
            check.problem(obj, "code", f"El código «{code}» está repetido{where}.")
            return False
        codes[code] = obj.key_lines.get("code", obj.line) if isinstance(obj, _Located) else None
        return True

    for area_data in check.items(data, "areas", "El catálogo"):
        if not check.mapping(area_data, data, "areas", "El catálogo"):
            continue
        code = area_data.get("code")
        if not isinstance(code, str) or not AREA_CODE_PATTERN.match(code):
            check.problem(area_data, "code", "Área: «code» debe tener de 2 a 10 letras "
                                             "mayúsculas (por ejemplo «DIR»).")
            code = "?"
        else:
            unique(area_data, code)
        area = AreaSpec(code, check.text(area_data, "name", f"Área {code}"))
        areas.append(area)
        for proceso_data in check.items(area_data, "procesos", f"Área {code}"):
            if not check.mapping(proceso_data, area_data, "procesos", f"Área {code}"):
                continue
            proceso = _child(check, proceso_data, parent_code=code, kind="Proceso",
                             unique=unique)
            area.procesos.append(ProcesoSpec(proceso.code, proceso.name))
            for componente_data in check.items(proceso_data, "componentes",
                                               f"Proceso {proceso.code}"):
                if not check.mapping(componente_data, proceso_data, "componentes",
                                     f"Proceso {proceso.code}"):
                    continue
                componente = _child(check, componente_data, parent_code=proceso.code,
                                    kind="Componente", unique=unique)
                area.procesos[-1].componentes.append(componente)
    if check.problems:
        raise CatalogProblems(sorted(check.problems, key=lambda found: found.line or 0))
    return CatalogSpec(slug=str(slug), title=title, year=int(year), scale=scale, areas=areas)


def _child(check: _Checker, obj: Mapping[str, Any], *, parent_code: str, kind: str,
           unique: Any) -> ComponenteSpec:
    code = obj.get("code")
    prefix = f"{parent_code}."
    if (not isinstance(code, str) or not code.startswith(prefix)
            or not CODE_SUFFIX_PATTERN.match(code.removeprefix(prefix))):
        check.problem(obj, "code", f"{kind}: «code» debe ser «{prefix}» seguido de un número "
                                   f"o una sigla (por ejemplo «{prefix}1»); llegó "
                                   f"«{code if isinstance(code, str) else ''}».")
        code = f"{prefix}?"
    else:
        unique(obj, code)
    return ComponenteSpec(code, check.text(obj, "name", f"{kind} {code}"))


# What the JSON decoder's messages mean, for a person fixing the file by hand.
JSON_ERRORS = {
    "Expecting ',' delimiter": "falta una coma entre dos elementos",
    "Expecting ':' delimiter": "faltan los dos puntos después de un nombre",
    "Expecting property name enclosed in double quotes":
        "se esperaba un nombre entre comillas dobles (¿sobra una coma antes de «}»?)",
    "Expecting value": "se esperaba un valor (¿sobra una coma antes de «]»?)",
    "Unterminated string starting at": "un texto abre comillas y no las cierra",
    "Invalid control character at": "un texto tiene un salto de línea dentro de las comillas",
    "Extra data": "hay contenido después del final del catálogo",
}


def parse_catalog(content: bytes | str) -> CatalogSpec:
    """Decode and validate a catalog file's content. Problems carry their line."""
    if isinstance(content, bytes):
        if len(content) > MAX_FILE_BYTES:
            raise CatalogProblems([Problem(None, "El archivo pesa más de 1 MB: no parece un "
                                                 "catálogo de la Guía 34.")])
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = content[:error.start].count(b"\n") + 1
            raise CatalogProblems([Problem(line, "El archivo no está en UTF-8. Guárdelo como "
                                                 "«UTF-8» e inténtelo de nuevo.")]) from None
    if not content.strip():
        raise CatalogProblems([Problem(None, "El archivo está vacío.")])
    try:
        data = _loads_with_lines(content)
    except json.JSONDecodeError as error:
        reason = JSON_ERRORS.get(error.msg, "revise comas, comillas y llaves")
        raise CatalogProblems([Problem(error.lineno, f"El archivo no es JSON válido en la "
                                                     f"columna {error.colno}: {reason}.")]) \
            from None
    except RecursionError:
        raise CatalogProblems([Problem(None, "El archivo anida demasiados niveles.")]) from None
    return validate_catalog(data)


def catalog_to_dict(catalog: Catalog) -> dict[str, Any]:
    """The catalog in the file format it is loaded from (to download and adapt)."""
    return {
        "id": catalog.slug, "title": catalog.title, "year": catalog.year,
        "scale": [dict(step) for step in catalog.scale],
        "areas": [{"code": area.code, "name": area.name, "procesos": [
            {"code": proceso.code, "name": proceso.name, "componentes": [
                {"code": componente.code, "name": componente.name}
                for componente in proceso.componentes]}
            for proceso in area.procesos]} for area in catalog.areas],
    }


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
