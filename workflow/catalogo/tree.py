"""A catalog's tree (áreas › procesos › componentes) as immutable values, cached per process.

A stored catalog never changes (an adaptation is a new version, with its own id and slug), so
its tree is read once per process, in one statement, and kept: the pages of every Ruta pinned
to it then walk the tree without asking the database (issue 17). The cached values hold no ORM
rows, so nothing in them can lazy-load, expire or be attached to a closed session.

The key is the database, the catalog's id, its slug and its creation time: a new version has a
new id; a database rebuilt with other catalogs under the same ids (tests) has other creation
times. ``clear()`` empties the cache (tests rebuild their databases between tests).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from threading import Lock

#: How many trees a process keeps: a Secretaría uses a few versions; the bound only matters
#: for a process that sees very many databases (tests).
MAX_TREES = 64


@dataclass(frozen=True)
class ComponenteNode:
    id: int
    proceso_id: int
    catalog_id: int
    code: str
    name: str
    position: int
    # Set once when the tree is built (a value never compared nor shown).
    proceso: ProcesoNode = field(init=False, compare=False, repr=False)


@dataclass(frozen=True)
class ProcesoNode:
    id: int
    area_id: int
    code: str
    name: str
    position: int
    componentes: tuple[ComponenteNode, ...]
    area: AreaNode = field(init=False, compare=False, repr=False)


@dataclass(frozen=True)
class AreaNode:
    id: int
    catalog_id: int
    code: str
    name: str
    position: int
    procesos: tuple[ProcesoNode, ...]

    @property
    def componentes(self) -> list[ComponenteNode]:
        return [componente for proceso in self.procesos for componente in proceso.componentes]


#: One row of the tree's statement: the área, then its proceso and componente (None when the
#: área has no proceso or the proceso no componente).
Row = tuple[tuple[int, int, str, str, int],
            tuple[int, str, str, int] | None,
            tuple[int, str, str, int] | None]


#: A proceso's row and the componentes found so far.
_Proceso = tuple[tuple[int, str, str, int], list[ComponenteNode]]


def build(catalog_id: int, rows: Iterable[Row]) -> tuple[AreaNode, ...]:
    """The tree from its rows, sorted by área, proceso and componente position."""
    areas: dict[int, tuple[tuple[int, int, str, str, int], dict[int, _Proceso]]] = {}
    for area, proceso, componente in rows:
        procesos = areas.setdefault(area[0], (area, {}))[1]
        if proceso is None:
            continue
        componentes = procesos.setdefault(proceso[0], (proceso, []))[1]
        if componente is not None:
            componentes.append(ComponenteNode(componente[0], proceso[0], catalog_id,
                                              *componente[1:]))
    tree = tuple(
        AreaNode(area_id, area[1], area[2], area[3], area[4], tuple(
            ProcesoNode(proceso_id, area_id, proceso[1], proceso[2], proceso[3],
                        tuple(sorted(componentes, key=lambda item: item.position)))
            for proceso_id, (proceso, componentes)
            in sorted(procesos.items(), key=lambda item: item[1][0][3])))
        for area_id, (area, procesos) in sorted(areas.items(), key=lambda item: item[1][0][4]))
    # The way up (``componente.proceso.area``), as the rows have it.
    for area_node in tree:
        for proceso_node in area_node.procesos:
            object.__setattr__(proceso_node, "area", area_node)
            for componente_node in proceso_node.componentes:
                object.__setattr__(componente_node, "proceso", proceso_node)
    return tree

_trees: OrderedDict[Hashable, tuple[AreaNode, ...]] = OrderedDict()
_lock = Lock()


def areas_of(key: Hashable, catalog_id: int,
             read: Callable[[], Iterable[Row]]) -> tuple[AreaNode, ...]:
    """The tree stored under ``key``, read (``read()``: one statement) the first time."""
    with _lock:
        found = _trees.get(key)
        if found is not None:
            _trees.move_to_end(key)
            return found
    tree = build(catalog_id, read())
    with _lock:
        _trees[key] = tree
        while len(_trees) > MAX_TREES:
            _trees.popitem(last=False)
    return tree


def clear() -> None:
    with _lock:
        _trees.clear()
