"""Crosswalks between instrument versions: which componente of a later version answers for
each componente of an earlier one.

Componente codes are not stable across versions of the Guía 34: ``DIR.2.1`` is «Liderazgo» in
2008 and «Consejo directivo» in 2026. Comparing a Ruta with the previous one by code would
report changes between unrelated componentes, so a comparison across versions goes only
through a crosswalk: every componente of the source version mapped to one componente of the
target version, or to none («sin equivalente»). Several source componentes may map to the same
target one (2026 merged componentes); the target's previous level is then their average.

A crosswalk is data (its tables are in ``workflow.catalogo.models``), loaded from a JSON
file (the shipped ones are ``catalogs/crosswalk-*.json``; the format is ``parse_crosswalk``'s).
A shipped or console-loaded crosswalk is shared (``secretaria_id`` NULL); a Secretaría may
load its own for the same pair of versions, which then answers for its Rutas instead of the
shared one. Loading again for the same Secretaría and pair replaces the stored one, entries
and all, in one transaction.

Áreas are compared by code (DIR, ACA, ADM, COM are the same in both shipped versions); an área
whose code the other version lacks is «no comparable».
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from workflow.catalogo.files import JSON_ERRORS, MAX_FILE_BYTES, Problem
from workflow.catalogo.models import MAX_TITLE, Catalog, Crosswalk, CrosswalkEntry
from workflow.errors import DomainError, Forbidden
from workflow.models import User, utcnow
from workflow.roles import Role

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "catalogs"
# The shipped crosswalks' file names start with this; the other files there are catalogs.
FILE_PREFIX = "crosswalk-"
MAX_NOTE = 4000


class CrosswalkProblems(DomainError):
    """A crosswalk that cannot be stored; ``problems`` lists every reason."""

    status = 422

    def __init__(self, problems: Sequence[Problem]) -> None:
        count = len(problems)
        super().__init__(f"La tabla de equivalencias no se cargó: tiene {count} "
                         f"problema{'s' if count != 1 else ''}. No se guardó nada.")
        self.problems = list(problems)


# --- the file format ----------------------------------------------------------------------


@dataclass(frozen=True)
class CrosswalkSpec:
    """A crosswalk file read and checked for shape, not yet checked against the catalogs.

    ``entries`` pairs each source componente code with its target code (None: «sin
    equivalente»), in file order.
    """

    source: str
    target: str
    title: str
    note: str
    entries: list[tuple[str, str | None]] = field(default_factory=list)


def parse_crosswalk(content: bytes | str) -> CrosswalkSpec:
    """Decode a crosswalk file and check its shape. Raises ``CrosswalkProblems``.

    The shape: ``{"source": slug, "target": slug, "title": text, "nota": text,
    "componentes": [{"source": code, "target": code or null, "nota": optional text}]}``.
    A list, not an object keyed by code, so that a componente written twice is seen (JSON
    objects silently keep the last of two equal keys).
    """
    if isinstance(content, bytes):
        if len(content) > MAX_FILE_BYTES:
            raise CrosswalkProblems([Problem(None, "El archivo pesa más de 1 MB: no parece una "
                                                   "tabla de equivalencias.")])
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = content[:error.start].count(b"\n") + 1
            raise CrosswalkProblems([Problem(line, "El archivo no está en UTF-8. Guárdelo como "
                                                   "«UTF-8» e inténtelo de nuevo.")]) from None
    if not content.strip():
        raise CrosswalkProblems([Problem(None, "El archivo está vacío.")])
    try:
        data = json.loads(content)
    except json.JSONDecodeError as error:
        reason = JSON_ERRORS.get(error.msg, "revise comas, comillas y llaves")
        raise CrosswalkProblems([Problem(error.lineno, f"El archivo no es JSON válido en la "
                                                       f"columna {error.colno}: {reason}.")]) \
            from None
    except RecursionError:
        raise CrosswalkProblems([Problem(None, "El archivo anida demasiados niveles.")]) \
            from None
    return validate_crosswalk(data)


def _text(data: Mapping[str, Any], key: str, problems: list[Problem], message: str, *,
          limit: int, required: bool = True) -> str:
    value = data.get(key, "" if not required else None)
    if not isinstance(value, str) or (required and not value.strip()):
        problems.append(Problem(None, message))
        return ""
    value = " ".join(value.split())
    if len(value) > limit:
        problems.append(Problem(None, f"«{key}» tiene más de {limit} caracteres."))
    return value


def validate_crosswalk(data: Any) -> CrosswalkSpec:
    """The crosswalk ``data`` describes, or ``CrosswalkProblems`` with every shape problem
    (codes are checked against the catalogs when storing)."""
    if not isinstance(data, Mapping):
        raise CrosswalkProblems([Problem(None, "El archivo debe ser un objeto JSON con "
                                               "«source», «target», «title» y «componentes».")])
    problems: list[Problem] = []
    source = _text(data, "source", problems, "Falta «source»: el identificador de la versión "
                                             "de origen (por ejemplo «guia34-2008»).", limit=60)
    target = _text(data, "target", problems, "Falta «target»: el identificador de la versión "
                                             "de destino (por ejemplo «guia34-2026»).", limit=60)
    if source and source == target:
        problems.append(Problem(None, f"La versión de origen y la de destino son la misma "
                                      f"(«{source}»): una tabla de equivalencias une dos "
                                      "versiones distintas."))
    title = _text(data, "title", problems, "Falta «title»: el nombre de la tabla de "
                                           "equivalencias.", limit=MAX_TITLE)
    note = _text(data, "nota", problems, "«nota» debe ser un texto que diga cómo se construyó "
                                         "la tabla.", limit=MAX_NOTE, required=False)
    items = data.get("componentes")
    entries: list[tuple[str, str | None]] = []
    if not isinstance(items, list) or not items:
        problems.append(Problem(None, "«componentes» debe ser una lista con un elemento por "
                                      "componente de la versión de origen."))
        items = []
    seen: dict[str, int] = {}
    for number, item in enumerate(items, start=1):
        where = f"Elemento {number} de «componentes»"
        if not isinstance(item, Mapping):
            problems.append(Problem(None, f"{where}: debe ser un objeto como "
                                          '{"source": "DIR.1.1", "target": "DIR.1.2"}.'))
            continue
        code, equivalent = item.get("source"), item.get("target", ...)
        if not isinstance(code, str) or not code.strip():
            problems.append(Problem(None, f"{where}: falta «source», el código del componente "
                                          "de la versión de origen."))
            continue
        code = code.strip()
        if equivalent is ...:
            problems.append(Problem(None, f"{where} ({code}): falta «target», el código del "
                                          "componente equivalente, o null si no tiene "
                                          "equivalente."))
            continue
        if equivalent is not None and (not isinstance(equivalent, str)
                                       or not equivalent.strip()):
            problems.append(Problem(None, f"{where} ({code}): «target» debe ser un código de "
                                          "componente entre comillas, o null («sin "
                                          "equivalente»)."))
            continue
        if code in seen:
            problems.append(Problem(None, f"El componente «{code}» está dos veces (elementos "
                                          f"{seen[code]} y {number}): cada componente de la "
                                          "versión de origen va una sola vez."))
            continue
        seen[code] = number
        entries.append((code, equivalent.strip() if isinstance(equivalent, str) else None))
    if problems:
        raise CrosswalkProblems(problems)
    return CrosswalkSpec(source=source, target=target, title=title, note=note,
                         entries=entries)


# --- storing ------------------------------------------------------------------------------


def _visible_catalog(session: Session, slug: str, secretaria_id: int | None) -> Catalog | None:
    return session.scalar(select(Catalog).where(
        Catalog.slug == slug,
        or_(Catalog.secretaria_id.is_(None), Catalog.secretaria_id == secretaria_id)))


def store_crosswalk(session: Session, spec: CrosswalkSpec, *, source: str,
                    secretaria_id: int | None = None, actor: User | None = None,
                    now: datetime | None = None) -> Crosswalk:
    """Check ``spec`` against both catalogs and store it, replacing the crosswalk the same
    Secretaría (or, with ``secretaria_id=None``, the shared one) had for the pair. Flushes.

    Every componente of the source version must appear once, mapped to a componente of the
    target version or to None. On any problem nothing is stored or deleted.
    """
    problems: list[Problem] = []
    source_catalog = _visible_catalog(session, spec.source, secretaria_id)
    target_catalog = _visible_catalog(session, spec.target, secretaria_id)
    for slug, found, role in ((spec.source, source_catalog, "de origen"),
                              (spec.target, target_catalog, "de destino")):
        if found is None:
            problems.append(Problem(None, f"No existe el catálogo «{slug}» (la versión {role}). "
                                          "Cárguelo primero o corrija «source»/«target»."))
    if source_catalog is None or target_catalog is None:
        raise CrosswalkProblems(problems)
    source_codes = {item.code: item for item in source_catalog.componentes}
    target_codes = {item.code: item for item in target_catalog.componentes}
    for code, equivalent in spec.entries:
        if code not in source_codes:
            problems.append(Problem(None, f"El componente «{code}» no existe en la versión de "
                                          f"origen «{source_catalog.slug}»."))
        if equivalent is not None and equivalent not in target_codes:
            problems.append(Problem(None, f"El componente «{equivalent}» (equivalente de "
                                          f"«{code}») no existe en la versión de destino "
                                          f"«{target_catalog.slug}»."))
    given = {code for code, _ in spec.entries}
    for code, componente in source_codes.items():
        if code not in given:
            problems.append(Problem(None, f"Falta el componente «{code} {componente.name}» de "
                                          f"«{source_catalog.slug}»: cada componente de la "
                                          "versión de origen debe aparecer, con su equivalente "
                                          "o con null («sin equivalente»)."))
    if problems:
        raise CrosswalkProblems(problems)
    previous = session.scalar(select(Crosswalk).where(
        Crosswalk.source_catalog_id == source_catalog.id,
        Crosswalk.target_catalog_id == target_catalog.id,
        Crosswalk.secretaria_id.is_(None) if secretaria_id is None
        else Crosswalk.secretaria_id == secretaria_id))
    if previous is not None:
        # Deleted and flushed first: the unit of work would insert the new row before
        # deleting the old one, and the pair is unique.
        session.execute(delete(CrosswalkEntry).where(CrosswalkEntry.crosswalk_id == previous.id))
        session.delete(previous)
        session.flush()
    crosswalk = Crosswalk(secretaria_id=secretaria_id, source_catalog=source_catalog,
                          target_catalog=target_catalog, title=spec.title, note=spec.note,
                          source=source[:200], loaded_at=now or utcnow(),
                          loaded_by_id=None if actor is None else actor.id)
    session.add(crosswalk)
    session.flush()
    session.add_all(CrosswalkEntry(
        crosswalk_id=crosswalk.id, source_componente_id=source_codes[code].id,
        target_componente_id=None if equivalent is None else target_codes[equivalent].id)
        for code, equivalent in spec.entries)
    session.flush()
    return crosswalk


def load_crosswalk(session: Session, content: bytes | str, *, source: str,
                   secretaria_id: int | None = None, actor: User | None = None,
                   now: datetime | None = None) -> Crosswalk:
    """Read, check and store a crosswalk file. Flushes.

    From the console (``actor=None``) ``secretaria_id`` says whose it is (None: shared). An
    administrator loads only for their own Secretaría.
    """
    if actor is not None:
        if actor.role is not Role.ADMINISTRADOR or not actor.active:
            raise Forbidden("Solo la administración de la Secretaría carga tablas de "
                            "equivalencias.")
        secretaria_id = actor.secretaria_id
    return store_crosswalk(session, parse_crosswalk(content), source=source,
                           secretaria_id=secretaria_id, actor=actor, now=now)


def shipped_files() -> list[Path]:
    return sorted(SHIPPED_DIR.glob(f"{FILE_PREFIX}*.json"))


def load_shipped_crosswalks(session: Session) -> list[Crosswalk]:
    """Store each shipped crosswalk whose two versions are stored and that has no shared
    crosswalk for its pair yet. Flushes."""
    loaded = []
    for path in shipped_files():
        spec = parse_crosswalk(path.read_bytes())
        source = _visible_catalog(session, spec.source, None)
        target = _visible_catalog(session, spec.target, None)
        if source is None or target is None:
            continue
        if session.scalar(select(Crosswalk.id).where(
                Crosswalk.source_catalog_id == source.id,
                Crosswalk.target_catalog_id == target.id,
                Crosswalk.secretaria_id.is_(None))) is None:
            loaded.append(store_crosswalk(session, spec, source=path.name))
    return loaded


def crosswalks_for(session: Session, secretaria_id: int) -> list[tuple[Crosswalk, bool]]:
    """The crosswalks a Secretaría sees, each with whether it answers for its Rutas (a shared
    one does not where the Secretaría loaded its own for the same pair)."""
    found = sorted(session.scalars(
        select(Crosswalk).where(or_(Crosswalk.secretaria_id.is_(None),
                                    Crosswalk.secretaria_id == secretaria_id))).all(),
        # Per pair, the shared one first (backends sort NULL differently).
        key=lambda item: (item.source_catalog_id, item.target_catalog_id,
                          item.secretaria_id is not None))
    own = {(item.source_catalog_id, item.target_catalog_id) for item in found
           if item.secretaria_id is not None}
    return [(item, item.secretaria_id is not None
             or (item.source_catalog_id, item.target_catalog_id) not in own)
            for item in found]


def crosswalk_between(session: Session, source: Catalog, target: Catalog,
                      secretaria_id: int | None) -> Crosswalk | None:
    """The crosswalk that answers for the Secretaría from ``source`` to ``target``: its own,
    else the shared one, else None."""
    found = session.scalars(select(Crosswalk).where(
        Crosswalk.source_catalog_id == source.id, Crosswalk.target_catalog_id == target.id,
        or_(Crosswalk.secretaria_id.is_(None), Crosswalk.secretaria_id == secretaria_id))).all()
    return next((item for item in found if item.secretaria_id is not None),
                found[0] if found else None)


# --- comparing through a crosswalk ----------------------------------------------------------


@dataclass(frozen=True)
class Equivalence:
    """How the componentes of an earlier version answer for those of a later one.

    ``predecessors`` maps each target componente code to the source componentes (code, name)
    that map to it; a code absent from it has no equivalent. Without a crosswalk
    (``found`` False) nothing is comparable and ``reason`` says why.
    """

    source_slug: str
    target_slug: str
    found: bool
    predecessors: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    title: str = ""

    @property
    def reason(self) -> str:
        if self.found:
            return ""
        return (f"No hay una tabla de equivalencias entre {self.source_slug} y "
                f"{self.target_slug}: ningún componente se puede comparar con la Ruta "
                "anterior.")


def equivalence_of(crosswalk: Crosswalk) -> Equivalence:
    predecessors: dict[str, list[tuple[str, str]]] = {}
    for entry in crosswalk.entries:
        if entry.target_componente is not None:
            predecessors.setdefault(entry.target_componente.code, []).append(
                (entry.source_componente.code, entry.source_componente.name))
    return Equivalence(crosswalk.source_catalog.slug, crosswalk.target_catalog.slug, True,
                       {code: tuple(found) for code, found in predecessors.items()},
                       crosswalk.title)


def equivalence_between(session: Session, source: Catalog, target: Catalog,
                        secretaria_id: int | None) -> Equivalence | None:
    """How to compare a Ruta on ``source`` with one on ``target``: None for the same version
    (componentes compare by identity), else through the Secretaría's crosswalk, if any."""
    if source.id == target.id:
        return None
    crosswalk = crosswalk_between(session, source, target, secretaria_id)
    if crosswalk is None:
        return Equivalence(source.slug, target.slug, False)
    return equivalence_of(crosswalk)
