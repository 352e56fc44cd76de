"""PMI elements never lose work (domain): versioned edits, creation once per form, and a
deletion that can be undone exactly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from demo.pmi import fill_demo_pmi
from tests.conftest import Factory
from tests.core.test_race import run_together
from workflow import form_tokens
from workflow.cierre.models import MetaResult
from workflow.cierre.models import Verdict as FinalVerdict
from workflow.errors import NotEditable, StaleEdit
from workflow.models import Ruta, User, utcnow
from workflow.pmi import actions as pmi_actions
from workflow.pmi import deletions
from workflow.pmi import plan as pmi
from workflow.pmi.models import (
    Actividad,
    Hallazgo,
    Indicador,
    Meta,
    Objetivo,
    PmiDeletion,
    PmiPlan,
)
from workflow.roles import Role
from workflow.states import State


def a_plan(db: Session, make: Factory) -> tuple[Ruta, User]:
    """A complete demo PMI: Objetivo 1 (Hallazgo 1) with Meta 1.1, one indicador and two
    actividades; Objetivo 2 (Hallazgo 2) with Meta 2.1, one indicador and one actividad."""
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    make.completed_self_assessment(ruta, level=2)
    rector = make.user(Role.RECTOR, school=ruta.school)
    fill_demo_pmi(db, ruta, actor=rector)
    db.commit()
    return ruta, rector


def count(db: Session, model: type[Any]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def first(db: Session, model: type[Any]) -> Any:
    return db.scalars(select(model).order_by(model.id)).first()


def form_of(actividad: Actividad, **changes: str) -> dict[str, Any]:
    form = {"meta_id": str(actividad.meta_id), "descripcion": actividad.descripcion,
            "responsable": actividad.responsable,
            "fecha_inicio": actividad.fecha_inicio.isoformat() if actividad.fecha_inicio
            else "",
            "fecha_fin": actividad.fecha_fin.isoformat() if actividad.fecha_fin else "",
            "recursos": actividad.recursos, "costo": str(actividad.costo or ""),
            "fuente_financiacion": actividad.fuente_financiacion,
            "trayectorias": list(actividad.trayectorias)}
    return {**form, **changes}


# --- versioned edits ----------------------------------------------------------------------


def test_save_element_with_the_current_version_bumps_it(db: Session, make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    actividad = first(db, Actividad)
    assert actividad.version == 1

    pmi.save_element(db, ruta, "actividad", actividad.id,
                     form_of(actividad, responsable="Rectoría"), actor=rector,
                     expected_version=1)
    db.commit()

    db.expire_all()
    assert (first(db, Actividad).responsable, first(db, Actividad).version) == ("Rectoría", 2)


def test_save_element_from_an_older_version_is_a_stale_edit(db: Session, make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    actividad = first(db, Actividad)
    pmi.save_element(db, ruta, "actividad", actividad.id,
                     form_of(actividad, responsable="Equipo de gestión"), actor=rector,
                     expected_version=1)
    db.commit()

    with pytest.raises(StaleEdit, match="esta actividad"):
        pmi.save_element(db, ruta, "actividad", actividad.id,
                         form_of(actividad, recursos="Otros recursos"), actor=rector,
                         expected_version=1)
    db.rollback()

    db.expire_all()
    saved = first(db, Actividad)
    assert (saved.responsable, saved.version) == ("Equipo de gestión", 2)
    assert saved.recursos != "Otros recursos"


def test_save_element_deleted_meanwhile_says_it_is_gone(db: Session, make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    actividad = first(db, Actividad)
    form = form_of(actividad)
    deletions.delete_element(db, ruta, "actividad", actividad.id, actor=rector)
    db.commit()

    with pytest.raises(pmi.ElementGone, match="Otra persona eliminó esta actividad"):
        pmi.save_element(db, ruta, "actividad", actividad.id, form, actor=rector,
                         expected_version=1)


def test_save_general_from_an_older_version_is_a_stale_edit(db: Session, make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    assert pmi.general_version(db, ruta) == 1
    form = {"presupuesto": "20000000", "divulgacion": "En la asamblea de padres.",
            "divulgacion_fecha": ""}
    pmi.save_general(db, ruta, form, actor=rector, expected_version=1)
    db.commit()

    with pytest.raises(StaleEdit, match="el presupuesto y la divulgación"):
        pmi.save_general(db, ruta, {**form, "presupuesto": "1"}, actor=rector,
                         expected_version=1)
    db.rollback()

    db.expire_all()
    assert (db.get(PmiPlan, ruta.id).presupuesto, pmi.general_version(db, ruta)) == (
        20_000_000, 2)


def test_save_general_never_saved_expects_version_zero(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    assert pmi.general_version(db, ruta) == 0

    pmi.save_general(db, ruta, {"divulgacion": "Cartelera."}, actor=rector, expected_version=0)

    assert pmi.general_version(db, ruta) == 1


# --- creation once per form -----------------------------------------------------------------


def test_create_element_twice_with_one_token_creates_once(db: Session, make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    token = form_tokens.new_token()
    form = {"fuente": "interna", "area": "Ciencias naturales", "grado": "9.°",
            "descripcion": "La mitad de los estudiantes de 9.° no aprueba ciencias."}
    before = count(db, Hallazgo)

    created = pmi.create_element(db, ruta, "hallazgo", form, actor=rector, token=token)
    db.commit()
    again = pmi.create_element(db, ruta, "hallazgo", form, actor=rector, token=token)
    db.commit()

    assert count(db, Hallazgo) == before + 1
    assert (created.again, again.again) == (False, True)
    assert again.element.id == created.element.id


def test_create_element_refused_leaves_the_token_usable(db: Session, make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    token = form_tokens.new_token()
    with pytest.raises(Exception, match="Escriba"):
        pmi.create_element(db, ruta, "hallazgo", {"fuente": "interna"}, actor=rector,
                           token=token)
    db.rollback()

    created = pmi.create_element(db, ruta, "hallazgo", {
        "fuente": "interna", "area": "Inglés",
        "descripcion": "El nivel de inglés de 11.° está por debajo del municipal."},
        actor=rector, token=token)

    assert created.again is False
    assert created.element.area == "Inglés"


# --- deleting and undoing -------------------------------------------------------------------


def test_preview_of_an_objetivo_counts_what_goes_with_it(db: Session, make: Factory) -> None:
    ruta, _ = a_plan(db, make)
    objetivo = first(db, Objetivo)

    found = deletions.preview(db, ruta, "objetivo", objetivo.id)

    assert found.sentence == (
        "Se eliminan el objetivo «Objetivo 1: Mejorar los desempeños en matemáticas de los "
        "estudiantes de la media, con…», 1 meta, 1 indicador y 2 actividades.")
    assert (found.label, found.allowed) == ("Objetivo 1", True)


def test_delete_then_undo_an_objetivo_restores_the_plan_exactly(db: Session,
                                                                make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    before = pmi.plan_content(db, ruta)
    objetivo = first(db, Objetivo)

    done = deletions.delete_element(db, ruta, "objetivo", objetivo.id, actor=rector)
    db.commit()
    assert (count(db, Objetivo), count(db, Meta), count(db, Indicador),
            count(db, Actividad)) == (1, 1, 1, 1)
    assert pmi.plan_content(db, ruta) != before

    deletions.undo(db, ruta, done.deletion.id, actor=rector)
    db.commit()

    db.expire_all()
    assert pmi.plan_content(db, ruta) == before
    assert db.get(PmiDeletion, done.deletion.id).restored_at is not None


def test_delete_then_undo_a_hallazgo_restores_its_objetivo_link(db: Session,
                                                                make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    before = pmi.plan_content(db, ruta)
    hallazgo = first(db, Hallazgo)

    done = deletions.delete_element(db, ruta, "hallazgo", hallazgo.id, actor=rector)
    db.commit()
    assert done.deletion.summary.endswith("Deja de estar vinculado a Objetivo 1.")
    assert pmi.plan_content(db, ruta)["objetivos"][0]["hallazgos"] == []

    deletions.undo(db, ruta, done.deletion.id, actor=rector)
    db.commit()

    db.expire_all()
    assert pmi.plan_content(db, ruta) == before


def test_delete_posted_twice_deletes_once(db: Session, make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    meta = first(db, Meta)
    first_post = deletions.delete_element(db, ruta, "meta", meta.id, actor=rector)
    db.commit()

    second_post = deletions.delete_element(db, ruta, "meta", meta.id, actor=rector)

    assert (second_post.again, second_post.deletion.id) == (True, first_post.deletion.id)
    assert count(db, PmiDeletion) == 1


def test_delete_refused_when_a_final_result_points_at_the_meta(db: Session,
                                                                 make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    meta = first(db, Meta)
    db.add(MetaResult(ruta_id=ruta.id, meta_id=meta.id, verdict=FinalVerdict.ALCANZADA))
    db.commit()
    before = pmi.plan_content(db, ruta)

    assert deletions.preview(db, ruta, "meta", meta.id).blockers == [
        "1 resultados de metas en la evaluación final"]
    with pytest.raises(NotEditable, match="No se puede eliminar Meta 1.1"):
        deletions.delete_element(db, ruta, "meta", meta.id, actor=rector)
    db.rollback()

    assert pmi.plan_content(db, ruta) == before
    assert count(db, PmiDeletion) == 0


def test_undo_refused_after_the_window(db: Session, make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    done = deletions.delete_element(db, ruta, "actividad", first(db, Actividad).id,
                                    actor=rector, now=utcnow() - timedelta(minutes=31))
    db.commit()

    assert deletions.undoable(db, ruta) == []
    with pytest.raises(NotEditable, match="se puede durante 30 minutos"):
        deletions.undo(db, ruta, done.deletion.id, actor=rector)


def test_undo_refused_twice(db: Session, make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    done = deletions.delete_element(db, ruta, "actividad", first(db, Actividad).id,
                                    actor=rector)
    deletions.undo(db, ruta, done.deletion.id, actor=rector)
    db.commit()

    with pytest.raises(NotEditable, match="ya se había restaurado"):
        deletions.undo(db, ruta, done.deletion.id, actor=rector)
    assert count(db, Actividad) == 3


def test_undo_refused_when_its_meta_was_deleted_since(db: Session, make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    actividad = first(db, Actividad)
    done = deletions.delete_element(db, ruta, "actividad", actividad.id, actor=rector)
    deletions.delete_element(db, ruta, "meta", actividad.meta_id, actor=rector)
    db.commit()

    with pytest.raises(NotEditable, match="la meta al que pertenecía ya no está"):
        deletions.undo(db, ruta, done.deletion.id, actor=rector)
    db.rollback()
    assert db.get(Actividad, actividad.id) is None


def test_undo_refused_once_the_plan_was_sent(db: Session, make: Factory) -> None:
    ruta, rector = a_plan(db, make)
    # Meta 1.1 keeps its other actividad: the plan stays complete and can be sent.
    done = deletions.delete_element(db, ruta, "actividad", first(db, Actividad).id,
                                    actor=rector)
    db.commit()
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    db.commit()

    assert deletions.undoable(db, ruta) == []
    with pytest.raises(NotEditable):
        deletions.undo(db, ruta, done.deletion.id, actor=rector)


@pytest.mark.postgres
def test_two_saves_of_one_version_at_once_one_wins(backend: str, app: Flask, db: Session,
                                                   make: Factory) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    ruta, rector = a_plan(db, make)
    actividad = first(db, Actividad)
    factory = app.extensions["ruta_db"].session_factory

    def save(responsable: str) -> str:
        with factory() as session:
            mine = session.get(Ruta, ruta.id)
            pmi.save_element(session, mine, "actividad", actividad.id,
                             form_of(actividad, responsable=responsable),
                             actor=session.get(User, rector.id), expected_version=1)
            session.commit()
            return responsable

    results = run_together(lambda: save("Rectoría"), lambda: save("Coordinación"))

    assert sorted(type(result).__name__ for result in results) == ["StaleEdit", "str"]
    winner = next(result for result in results if isinstance(result, str))
    db.expire_all()
    assert (first(db, Actividad).responsable, first(db, Actividad).version) == (winner, 2)
