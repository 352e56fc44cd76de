"""Catalog files: reading the JSON format, validating it, and writing a catalog back to it.

File problems are reported with the line they are on, so a Secretaría editing a copy of the
file in a text editor knows where to look. Nothing here touches the database: storing a
validated catalog is ``workflow.catalogo.catalog``'s.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workflow.catalogo.models import LEVELS, MAX_NAME, MAX_TITLE, Catalog
from workflow.errors import DomainError

MAX_FILE_BYTES = 1_000_000

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,59}$")
AREA_CODE_PATTERN = re.compile(r"^[A-Z]{2,10}$")
CODE_SUFFIX_PATTERN = re.compile(r"^[0-9A-Za-z]{1,10}$")


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
