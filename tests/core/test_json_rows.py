"""Issue 17: a whole plan read in one statement (``workflow.json_rows``, ``pmi.graph``) loads the
very objects the ORM's own queries load, every column with its type, every collection in its
order, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Flask
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, selectinload

from tests.conftest import Factory
from tests.pmi.test_element_safety import a_plan
from tests.query_counter import counting_statements
from workflow.models import Ruta
from workflow.pmi.graph import plan_graph
from workflow.pmi.models import (
    Actividad,
    Aplazamiento,
    Comparacion,
    Hallazgo,
    Indicador,
    Meta,
    Objetivo,
    PmiPlan,
    ValorUnidad,
)

MODELS = (PmiPlan, Aplazamiento, Hallazgo, Objetivo, Meta, Indicador, Actividad)
COLLECTIONS = {Objetivo: ("metas", "componentes", "hallazgos"), Hallazgo: ("componentes",),
               Meta: ("indicadores", "actividades")}


def a_varied_plan(db: Session, make: Factory) -> Ruta:
    """The demo PMI with a value of every kind its columns hold: enums, floats, a boolean,
    dates, timestamps, JSON lists and objects, a big integer, NULLs."""
    ruta, _ = a_plan(db, make)
    hallazgo = db.scalars(select(Hallazgo).where(Hallazgo.ruta_id == ruta.id)
                          .order_by(Hallazgo.id)).first()
    assert hallazgo is not None
    hallazgo.valor, hallazgo.valor_unidad = 61.5, ValorUnidad.PORCENTAJE
    hallazgo.comparacion, hallazgo.comparacion_valor = Comparacion.NACIONAL, 58.25
    indicador = db.scalars(select(Indicador).where(Indicador.ruta_id == ruta.id)).first()
    assert indicador is not None
    indicador.binario, indicador.metas_anuales = True, {"2024": 1.0, "2025": 0.5}
    plan = db.get(PmiPlan, ruta.id) or PmiPlan(ruta_id=ruta.id)
    plan.presupuesto, plan.divulgacion_fecha = 12_500_000_000, date(2024, 3, 15)
    plan.updated_at = datetime(2024, 3, 1, 14, 30, 5, 123456, tzinfo=UTC)
    db.add(plan)
    componente = hallazgo.componentes[0]
    db.add(Aplazamiento(ruta_id=ruta.id, componente_id=componente.id,
                        razon="Se atenderá en el siguiente horizonte."))
    db.commit()
    return ruta


def snapshot(objects: list[Any]) -> list[dict[str, Any]]:
    """Every column's value with its type, and every collection as ids, of ``objects``."""
    described = []
    for obj in objects:
        mapper = inspect(type(obj))
        row: dict[str, Any] = {prop.key: (type(getattr(obj, prop.key)), getattr(obj, prop.key))
                               for prop in mapper.column_attrs}
        for name in COLLECTIONS.get(type(obj), ()):
            row[name] = [child.id for child in getattr(obj, name)]
        described.append(row)
    return described


def orm_load(session: Session, ruta_id: int) -> dict[type[Any], list[Any]]:
    loaded: dict[type[Any], list[Any]] = {}
    for model in MODELS:
        options = [selectinload(getattr(model, name)) for name in COLLECTIONS.get(model, ())]
        loaded[model] = list(session.scalars(select(model).where(model.ruta_id == ruta_id)
                                             .order_by(*inspect(model).primary_key)
                                             .options(*options)))
    return loaded


def graph_load(session: Session, ruta: Ruta) -> dict[type[Any], list[Any]]:
    graph = plan_graph(session, ruta)
    metas = sorted((meta for objetivo in graph.objetivos for meta in objetivo.metas),
                   key=lambda meta: meta.id)
    return {PmiPlan: [graph.general] if graph.general else [],
            Aplazamiento: graph.aplazamientos, Hallazgo: graph.hallazgos,
            Objetivo: graph.objetivos, Meta: metas,
            Indicador: sorted((row for meta in metas for row in meta.indicadores),
                              key=lambda row: row.id),
            Actividad: sorted((row for meta in metas for row in meta.actividades),
                              key=lambda row: row.id)}


def test_the_plan_in_one_statement_is_what_the_orm_loads(app: Flask, db: Session,
                                                         make: Factory) -> None:
    ruta = a_varied_plan(db, make)
    factory = app.extensions["ruta_db"].session_factory
    with factory() as expected_session:
        expected = {model: snapshot(rows)
                    for model, rows in orm_load(expected_session, ruta.id).items()}
    with factory() as session:
        own_ruta = session.get(Ruta, ruta.id)
        assert own_ruta is not None
        with counting_statements(app) as statements:
            loaded = graph_load(session, own_ruta)
            found = {model: snapshot(rows) for model, rows in loaded.items()}
        assert statements.count == 1, statements.sent
        # Loaded as the session's persistent, unmodified objects.
        assert not (session.new or session.dirty)
        assert all(inspect(row).persistent for rows in loaded.values() for row in rows)
        # A many-to-one finds its target in the identity map.
        with counting_statements(app) as statements:
            assert loaded[Meta][0].objetivo is loaded[Objetivo][0]
            assert loaded[Aplazamiento][0].componente.code
        assert statements.count == 0, statements.sent
    assert all(expected[model] for model in MODELS)
    for model in MODELS:
        assert found[model] == expected[model], model.__name__
    hallazgo = expected[Hallazgo][0]
    assert hallazgo["valor_unidad"] == (ValorUnidad, ValorUnidad.PORCENTAJE)
    assert hallazgo["created_at"][1].tzinfo is not None


def test_expired_objects_are_filled_and_fresh_replaces_a_stale_collection(
        app: Flask, db: Session, make: Factory) -> None:
    ruta = a_varied_plan(db, make)
    factory = app.extensions["ruta_db"].session_factory
    with factory() as session:
        own_ruta = session.get(Ruta, ruta.id)
        assert own_ruta is not None
        graph = plan_graph(session, own_ruta)  # held: the identity map is weak
        objetivo = graph.objetivos[0]
        session.expire_all()
        session.refresh(own_ruta)
        with counting_statements(app) as statements:
            again = plan_graph(session, own_ruta).objetivos[0]
            assert again is objetivo
            assert objetivo.enunciado and objetivo.metas[0].actividades[0].descripcion
        assert statements.count == 1, statements.sent

        # Another session deletes an actividad; this one still holds the collection.
        with factory() as other:
            gone = other.scalars(select(Actividad).where(Actividad.ruta_id == ruta.id)
                                 .order_by(Actividad.id.desc())).first()
            assert gone is not None
            other.delete(gone)
            other.commit()
        meta = next(meta for objetivo in graph.objetivos for meta in objetivo.metas
                    if meta.id == gone.meta_id)
        assert gone.id in [row.id for row in meta.actividades]
        plan_graph(session, own_ruta)
        assert gone.id in [row.id for row in meta.actividades]  # kept, as the ORM keeps it
        plan_graph(session, own_ruta, fresh=True)
        assert gone.id not in [row.id for row in meta.actividades]
