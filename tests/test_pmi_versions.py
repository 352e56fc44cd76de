"""Versions of a PMI: one immutable snapshot per submission, and element-by-element diffs."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.conftest import Factory
from workflow import pmi, services
from workflow.models import Ruta, User
from workflow.pmi_demo import fill_demo_pmi
from workflow.pmi_versions import (
    ElementChange,
    FieldChange,
    PmiSnapshot,
    diff,
    diff_snapshots,
    snapshots,
)
from workflow.roles import Role
from workflow.states import ReturnTarget, State


def submitted(db: Session, make: Factory) -> tuple[Ruta, User, User]:
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    make.completed_self_assessment(ruta, level=2)
    rector = make.user(Role.RECTOR, school=ruta.school)
    fill_demo_pmi(db, ruta, actor=rector)
    services.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    return ruta, rector, make.user(Role.REVISOR)


def back_to_pmi(db: Session, ruta: Ruta, reviewer: User) -> None:
    services.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    services.return_with_observations(db, ruta, reviewer=reviewer,
                                      expected_version=ruta.version,
                                      observations="Ajuste la meta 2.", target=ReturnTarget.PMI)


def test_submission_freezes_the_plan_as_it_was(db: Session, make: Factory) -> None:
    ruta, rector, _ = submitted(db, make)
    frozen = snapshots(db, ruta)
    assert [(row.number, row.created_by_id) for row in frozen] == [(1, rector.id)]
    assert frozen[0].content == pmi.plan_content(db, ruta)
    assert [o["code"] for o in frozen[0].content["autoevaluacion"]["oportunidades"]] == [
        "DIR.1.1", "DIR.1.2", "DIR.2.1", "ACA.1.1", "ACA.1.2"]


def test_later_edits_do_not_change_a_snapshot(db: Session, make: Factory) -> None:
    ruta, rector, reviewer = submitted(db, make)
    back_to_pmi(db, ruta, reviewer)
    meta = db.scalars(select(pmi.Meta).order_by(pmi.Meta.id)).first()
    assert meta is not None
    pmi.save_element(db, ruta, "meta", meta.id, {
        "objetivo_id": str(meta.objetivo_id), "enunciado": meta.enunciado, "cantidad": "45",
        "unidad": "%", "fecha_limite": "2026-11-30", "linea_base": "30"}, actor=rector)
    db.commit()
    db.expire_all()
    assert snapshots(db, ruta)[0].content["metas"][0]["linea_base"] == 32.0


def test_snapshot_rows_refuse_update_and_delete(db: Session, make: Factory) -> None:
    ruta, _, _ = submitted(db, make)
    db.commit()
    for statement in (update(PmiSnapshot).values(content={}),
                      text("DELETE FROM pmi_snapshots")):
        with pytest.raises(DBAPIError) as refused:
            db.execute(statement)
        assert "pmi_snapshots are immutable" in str(refused.value)
        db.rollback()
    assert len(snapshots(db, ruta)) == 1


def test_resubmission_adds_a_version_and_the_diff_names_each_change(db: Session,
                                                                    make: Factory) -> None:
    ruta, rector, reviewer = submitted(db, make)
    back_to_pmi(db, ruta, reviewer)
    metas = db.scalars(select(pmi.Meta).order_by(pmi.Meta.id)).all()
    pmi.save_element(db, ruta, "meta", metas[0].id, {
        "objetivo_id": str(metas[0].objetivo_id), "enunciado": metas[0].enunciado,
        "cantidad": "45", "unidad": "%", "fecha_limite": "2026-11-30", "linea_base": "30"},
        actor=rector)
    componente = ruta.catalog.componentes[3]  # type: ignore[attr-defined]
    deferred = pmi.save_element(db, ruta, "aplazamiento", None, {
        "componente_id": str(componente.id), "razon": "Se atiende en la siguiente Ruta."},
        actor=rector)
    deleted = db.scalars(select(pmi.Actividad).order_by(pmi.Actividad.id)).all()[1]
    pmi.delete_element(db, ruta, "actividad", deleted.id, actor=rector)
    services.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)

    changes = diff_snapshots(db, ruta, 1, 2)

    assert [row.number for row in snapshots(db, ruta)] == [1, 2]
    assert changes[:2] == [
        ElementChange("changed", f"meta:{metas[0].id}", "Meta 1.1", [
            FieldChange("linea_base", "Línea base", 32.0, 30.0)]),
        ElementChange("added", f"aplazamiento:{deferred.id}", "Oportunidad aplazada ACA.1.1", [
            FieldChange("componente_id", "Oportunidad", None, componente.id),
            FieldChange("razon", "Razón", None, "Se atiende en la siguiente Ruta.")]),
    ]
    assert (len(changes), changes[2].kind, changes[2].element, changes[2].label) == (
        3, "removed", f"actividad:{deleted.id}", "Actividad 1.1.2")
    assert [(field.name, field.before, field.after) for field in changes[2].fields][:3] == [
        ("meta_id", metas[0].id, None), ("descripcion", deleted.descripcion, None),
        ("responsable", deleted.responsable, None)]


def test_diff_of_identical_plans_is_empty() -> None:
    plan = {"horizon": [2024, 2026], "plan": {"presupuesto": None}, "objetivos": [
        {"id": 1, "enunciado": "A", "componentes": [], "hallazgos": []}]}
    assert diff(plan, plan) == []
    changed = {**plan, "plan": {"presupuesto": 5}}
    assert diff(plan, changed) == [ElementChange("changed", "plan", "El plan en general", [
        FieldChange("presupuesto", "Presupuesto", None, 5)])]
