"""A Ruta's whole PMI in one SQL statement (issue 17).

The plan is ten small tables: the plan's general row, the aplazamientos, the hallazgos and the
componentes they touch, the objetivos with their componentes and hallazgos, the metas, their
indicadores and actividades. Loaded relationship by relationship that was eight statements on
every page that draws or checks the plan (the Ruta page, the PMI, its review, its print, each
seguimiento report). ``plan_graph`` reads them all with ``json_rows.fetch`` and links the
objects as the ORM's eager loads would have: every collection the pages walk is loaded, in
its relationship's order, and a many-to-one finds its target in the identity map.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, union
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from workflow import json_rows, ruta_rows
from workflow.catalogo.models import CatalogComponente
from workflow.models import Ruta
from workflow.pmi.models import (
    Actividad,
    Aplazamiento,
    Hallazgo,
    Indicador,
    Meta,
    Objetivo,
    PmiPlan,
    hallazgo_componentes,
    objetivo_componentes,
    objetivo_hallazgos,
)


@dataclass(frozen=True)
class PlanGraph:
    general: PmiPlan | None
    aplazamientos: list[Aplazamiento]
    hallazgos: list[Hallazgo]
    objetivos: list[Objetivo]
    # Every row the statement found (a collection loaded earlier keeps what it had).
    metas: list[Meta]
    indicadores: list[Indicador]
    actividades: list[Actividad]


#: The plan's queries are named with this prefix in a page's prefetch (``ruta_rows``).
PREFIX = "plan."


def plan_queries(ruta_id: BindParameter[int]) -> dict[str, Select[Any]]:
    """The plan's queries, to read with a page's other rows (``ruta_rows.tables``)."""
    return {PREFIX + name: query for name, query in _queries(ruta_id).items()}


def _queries(ruta_id: BindParameter[int]) -> dict[str, Select[Any]]:
    objetivo_ids = select(Objetivo.id).where(Objetivo.ruta_id == ruta_id)
    hallazgo_ids = select(Hallazgo.id).where(Hallazgo.ruta_id == ruta_id)
    componente_links = select(objetivo_componentes).where(
        objetivo_componentes.c.objetivo_id.in_(objetivo_ids))
    hallazgo_links = select(hallazgo_componentes).where(
        hallazgo_componentes.c.hallazgo_id.in_(hallazgo_ids))
    componente_ids = union(
        select(componente_links.subquery().c.componente_id),
        select(hallazgo_links.subquery().c.componente_id),
        select(Aplazamiento.componente_id).where(Aplazamiento.ruta_id == ruta_id))
    return {
        "plan": select(PmiPlan.__table__).where(PmiPlan.ruta_id == ruta_id),
        "aplazamientos": select(Aplazamiento.__table__).where(Aplazamiento.ruta_id == ruta_id),
        "hallazgos": select(Hallazgo.__table__).where(Hallazgo.ruta_id == ruta_id),
        "hallazgo_componentes": hallazgo_links,
        "objetivos": select(Objetivo.__table__).where(Objetivo.ruta_id == ruta_id),
        "objetivo_componentes": componente_links,
        "objetivo_hallazgos": select(objetivo_hallazgos).where(
            objetivo_hallazgos.c.objetivo_id.in_(objetivo_ids)),
        "metas": select(Meta.__table__).where(Meta.ruta_id == ruta_id),
        "indicadores": select(Indicador.__table__).where(Indicador.ruta_id == ruta_id),
        "actividades": select(Actividad.__table__).where(Actividad.ruta_id == ruta_id),
        "componentes": select(CatalogComponente.__table__).where(
            CatalogComponente.id.in_(componente_ids)),
    }


#: The plan's queries, read alone.
PLAN = json_rows.Batch(_queries)


def _grouped(pairs: Iterable[tuple[Any, Any]]) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = defaultdict(list)
    for key, value in pairs:
        groups[key].append(value)
    return groups


def plan_graph(session: Session, ruta: Ruta, *, fresh: bool = False) -> PlanGraph:
    """The plan's rows as the session's objects, every collection the pages walk loaded.

    ``fresh`` reads the rows and their collections again even when the session already holds
    them: a snapshot taken in the session that just deleted an actividad must not find it in
    a collection loaded before the deletion."""
    return plan_graph_of(session, ruta.id, fresh=fresh)


def plan_graph_of(session: Session, ruta_id: int, *, fresh: bool = False) -> PlanGraph:
    """``plan_graph`` by the Ruta's id: from the page's prefetch when it read the plan, and
    built once per GET request (the Ruta page's stages each ask for it)."""
    if fresh:
        return _graph(session, json_rows.fetch(session, PLAN, ruta_id, fresh=True), fresh=True)
    return ruta_rows.memoized(session, ("plan_graph", ruta_id),
                              lambda: _graph(session, _found(session, ruta_id)))


def _found(session: Session, ruta_id: int) -> dict[str, list[dict[str, Any]]]:
    prefetched = {name: ruta_rows.raw(session, ruta_id, PREFIX + name) for name in PLAN.names}
    if any(rows is None for rows in prefetched.values()):
        return json_rows.fetch(session, PLAN, ruta_id)
    return {name: rows or [] for name, rows in prefetched.items()}


def _graph(session: Session, found: dict[str, list[dict[str, Any]]], *,
           fresh: bool = False) -> PlanGraph:

    def hydrate(model: type[Any], name: str) -> list[Any]:
        return json_rows.hydrate(session, model, found[name], fresh=fresh)

    componentes = {row.id: row for row in hydrate(CatalogComponente, "componentes")}
    hallazgos = hydrate(Hallazgo, "hallazgos")
    objetivos = hydrate(Objetivo, "objetivos")
    metas = hydrate(Meta, "metas")
    by_id = {row.id: row for row in hallazgos}
    links = [(link["objetivo_id"], link["hallazgo_id"]) for link in found["objetivo_hallazgos"]]
    # Collections in their relationship's order (each orders by the child's id).
    json_rows.attach(hallazgos, "componentes", _grouped(
        (link["hallazgo_id"], componentes[link["componente_id"]])
        for link in sorted(found["hallazgo_componentes"], key=lambda r: r["componente_id"])),
        fresh=fresh)
    # ``Hallazgo.objetivos`` stays unloaded, as the ORM's loads left it: no page walks it, and
    # a hallazgo deleted by the session must not hold on to its objetivos' stale collections.
    json_rows.attach(objetivos, "hallazgos", _grouped(
        (objetivo_id, by_id[hallazgo_id]) for objetivo_id, hallazgo_id
        in sorted(links, key=lambda pair: pair[1])), fresh=fresh)
    json_rows.attach(objetivos, "componentes", _grouped(
        (link["objetivo_id"], componentes[link["componente_id"]])
        for link in sorted(found["objetivo_componentes"], key=lambda r: r["componente_id"])),
        fresh=fresh)
    json_rows.attach(objetivos, "metas", _grouped((row.objetivo_id, row) for row in metas),
                     fresh=fresh)
    indicadores = hydrate(Indicador, "indicadores")
    actividades = hydrate(Actividad, "actividades")
    json_rows.attach(metas, "indicadores", _grouped((row.meta_id, row) for row in indicadores),
                     fresh=fresh)
    json_rows.attach(metas, "actividades", _grouped((row.meta_id, row) for row in actividades),
                     fresh=fresh)
    general = hydrate(PmiPlan, "plan")
    return PlanGraph(general[0] if general else None, hydrate(Aplazamiento, "aplazamientos"),
                     hallazgos, objetivos, metas, indicadores, actividades)
