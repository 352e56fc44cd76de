"""Versions of a PMI: one immutable snapshot per submission, and element-by-element diffs."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from demo.pmi import fill_demo_pmi
from tests.conftest import PASSING_RUBRIC, Factory
from workflow.models import Ruta, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi import deletions, review
from workflow.pmi import plan as pmi
from workflow.pmi.models import Actividad, Meta, PmiSnapshot
from workflow.pmi.versions import ElementChange, FieldChange, diff, diff_snapshots, snapshots
from workflow.roles import Role
from workflow.states import ReturnTarget, State

MONTHS = {1: "enero", 2: "febrero", 3: "marzo", 4: "abril", 5: "mayo", 6: "junio", 7: "julio",
          8: "agosto", 9: "septiembre", 10: "octubre", 11: "noviembre", 12: "diciembre"}


def submitted(db: Session, make: Factory) -> tuple[Ruta, User, User]:
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    make.completed_self_assessment(ruta, level=2)
    rector = make.user(Role.RECTOR, school=ruta.school)
    fill_demo_pmi(db, ruta, actor=rector)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    return ruta, rector, make.user(Role.REVISOR)


def back_to_pmi(db: Session, ruta: Ruta, reviewer: User, rector: User) -> None:
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    row = review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="3",
                                 text="Ajuste la meta 2.")
    pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                         expected_version=ruta.version, observations="",
                                         target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
    review.answer(db, ruta, row.id, actor=rector, response="Ajustada.")


def test_submission_freezes_the_plan_as_it_was(db: Session, make: Factory) -> None:
    ruta, rector, _ = submitted(db, make)
    frozen = snapshots(db, ruta)
    assert [(row.number, row.created_by_id) for row in frozen] == [(1, rector.id)]
    assert frozen[0].content == pmi.plan_content(db, ruta)
    assert [o["code"] for o in frozen[0].content["autoevaluacion"]["oportunidades"]] == [
        "DIR.1.1", "DIR.1.2", "DIR.2.1", "ACA.1.1", "ACA.1.2"]


def test_later_edits_do_not_change_a_snapshot(db: Session, make: Factory) -> None:
    ruta, rector, reviewer = submitted(db, make)
    back_to_pmi(db, ruta, reviewer, rector)
    meta = db.scalars(select(Meta).order_by(Meta.id)).first()
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
    back_to_pmi(db, ruta, reviewer, rector)
    metas = db.scalars(select(Meta).order_by(Meta.id)).all()
    pmi.save_element(db, ruta, "meta", metas[0].id, {
        "objetivo_id": str(metas[0].objetivo_id), "enunciado": metas[0].enunciado,
        "cantidad": "45", "unidad": "porcentaje", "fecha_limite": "2026-11-30",
        "linea_base": "32"},
        actor=rector)
    componente = ruta.catalog.componentes[3]  # type: ignore[attr-defined]
    deferred = pmi.save_element(db, ruta, "aplazamiento", None, {
        "componente_id": str(componente.id), "razon": "Se atiende en la siguiente Ruta."},
        actor=rector)
    deleted = db.scalars(select(Actividad).order_by(Actividad.id)).all()[1]
    deletions.delete_element(db, ruta, "actividad", deleted.id, actor=rector)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)

    changes = diff_snapshots(db, ruta, 1, 2)

    assert [row.number for row in snapshots(db, ruta)] == [1, 2]
    assert changes[:2] == [
        ElementChange("changed", f"meta:{metas[0].id}", "Meta 1.1", [
            FieldChange("unidad", "Unidad de medida", "%", "porcentaje")]),
        ElementChange("added", f"aplazamiento:{deferred.id}", "Oportunidad aplazada ACA.1.1", [
            FieldChange("componente_id", "Oportunidad", None, componente.id),
            FieldChange("razon", "Razón", None, "Se atiende en la siguiente Ruta.")]),
    ]
    assert (len(changes), changes[2].kind, changes[2].element, changes[2].label) == (
        3, "removed", f"actividad:{deleted.id}", "Actividad 1.1.2")
    assert [(field.name, field.before, field.after) for field in changes[2].fields][:3] == [
        ("meta_id", metas[0].id, None), ("descripcion", deleted.descripcion, None),
        ("responsable", deleted.responsable, None)]
    # What the pages show: labels and readable values, never ids or raw values.
    assert [(field.before_text, field.after_text) for field in changes[0].fields] == [
        ("%", "porcentaje")]
    assert changes[1].fields[0].after_text == f"ACA.1.1 {componente.name}"
    shown = {field.name: field.before_text for field in changes[2].fields}
    assert shown["meta_id"] == "Meta 1.1"
    assert shown["fecha_inicio"] == f"{deleted.fecha_inicio.day} de " \
        f"{MONTHS[deleted.fecha_inicio.month]} de {deleted.fecha_inicio.year}"
    assert shown["costo"].startswith("$") and "." in shown["costo"]


def test_diff_of_identical_plans_is_empty() -> None:
    plan = {"horizon": [2024, 2026], "plan": {"presupuesto": None}, "objetivos": [
        {"id": 1, "enunciado": "A", "componentes": [], "hallazgos": []}]}
    assert diff(plan, plan) == []
    changed = {**plan, "plan": {"presupuesto": 5}}
    assert diff(plan, changed) == [ElementChange("changed", "plan", "El plan en general", [
        FieldChange("presupuesto", "Presupuesto", None, 5)])]


def _content(**changes: object) -> dict[str, object]:
    """A small plan: two oportunidades, one fortaleza, one element of each kind."""
    content: dict[str, object] = {
        "horizon": [2024, 2026],
        "autoevaluacion": {
            "oportunidades": [
                {"componente_id": 5, "code": "DIR.1.1", "name": "Misión, visión y principios",
                 "area": "Directiva", "level": 1, "score": 60},
                {"componente_id": 7, "code": "ACA.2.1", "name": "Prácticas pedagógicas",
                 "area": "Académica", "level": 2, "score": None}],
            "fortalezas": [{"componente_id": 9, "code": "ADM.1.1", "name": "Matrícula",
                            "area": "Administrativa", "level": 4}]},
        "plan": {"presupuesto": None, "divulgacion": "", "divulgacion_fecha": None},
        "aplazamientos": [],
        "hallazgos": [{"id": 11, "fuente": "saber_9", "area": "Lenguaje", "grado": "9.°",
                       "descripcion": "Lectura inferencial baja."}],
        "objetivos": [{"id": 21, "enunciado": "Mejorar la lectura.", "componentes": [5],
                       "hallazgos": []},
                      {"id": 22, "enunciado": "Mejorar las prácticas.", "componentes": [],
                       "hallazgos": []}],
        "metas": [{"id": 31, "objetivo_id": 21, "enunciado": "Subir al 40 %.",
                   "cantidad": 40.0, "unidad": "%", "fecha_limite": "2025-11-30",
                   "linea_base": 30.0}],
        "indicadores": [{"id": 41, "meta_id": 31, "nombre": "Estudiantes en nivel 2+",
                         "formula": "a / b", "unidad": "%", "frecuencia": "Anual",
                         "fuente": "ICFES", "linea_base": 30.0,
                         "metas_anuales": {"2024": 32.0, "2025": 40.0}}],
        "actividades": [{"id": 51, "meta_id": 31, "descripcion": "Club de lectura.",
                         "responsable": "Biblioteca", "fecha_inicio": "2024-02-05",
                         "fecha_fin": "2024-11-30", "recursos": "Libros", "costo": 1500000,
                         "fuente_financiacion": "FSE", "trayectorias": []}],
    }
    content.update(changes)
    return content


def _texts(change: ElementChange) -> dict[str, tuple[str, str]]:
    return {field.label: (field.before_text, field.after_text) for field in change.fields}


def test_diff_says_every_value_with_its_label() -> None:
    before = _content()
    after = _content(
        plan={"presupuesto": 12000000, "divulgacion": "Asamblea de padres.",
              "divulgacion_fecha": "2024-03-15"},
        hallazgos=[{"id": 11, "fuente": "saber_11", "area": "Lenguaje", "grado": "11.°",
                    "descripcion": "Lectura inferencial baja."}],
        objetivos=[{"id": 21, "enunciado": "Mejorar la lectura.", "componentes": [5, 7],
                    "hallazgos": [11]},
                   {"id": 22, "enunciado": "Mejorar las prácticas.", "componentes": [],
                    "hallazgos": []}],
        metas=[{"id": 31, "objetivo_id": 22, "enunciado": "Subir al 40 %.", "cantidad": 45.5,
                "unidad": "%", "fecha_limite": "2026-11-30", "linea_base": 30.0}],
        indicadores=[{"id": 41, "meta_id": 31, "nombre": "Estudiantes en nivel 2+",
                      "formula": "a / b", "unidad": "%", "frecuencia": "Anual",
                      "fuente": "ICFES", "linea_base": 30.0,
                      "metas_anuales": {"2024": 32.0, "2025": 40.0, "2026": 45.5}}],
        actividades=[{"id": 51, "meta_id": 31, "descripcion": "Club de lectura.",
                      "responsable": "Biblioteca", "fecha_inicio": "2024-02-05",
                      "fecha_fin": "2024-11-30", "recursos": "Libros", "costo": 2500000,
                      "fuente_financiacion": "FSE", "trayectorias": ["rural", "migrantes"]}])

    changes = {change.element: change for change in diff(before, after)}

    assert set(changes) == {"plan", "hallazgo:11", "objetivo:21", "meta:31", "indicador:41",
                            "actividad:51"}
    assert _texts(changes["plan"]) == {
        "Presupuesto": ("—", "$12.000.000"), "Divulgación": ("—", "Asamblea de padres."),
        "Fecha de divulgación": ("—", "15 de marzo de 2024")}
    assert _texts(changes["hallazgo:11"]) == {"Fuente": ("Saber 9.°", "Saber 11"),
                                              "Grado": ("9.°", "11.°")}
    assert _texts(changes["objetivo:21"]) == {
        "Oportunidades que atiende": (
            "DIR.1.1 Misión, visión y principios",
            "DIR.1.1 Misión, visión y principios; ACA.2.1 Prácticas pedagógicas"),
        "Hallazgos que atiende": ("—", "Hallazgo 1")}
    # The meta moved to objetivo 2: it is "Meta 2.1" now, "Meta 1.1" before.
    assert changes["meta:31"].label == "Meta 2.1"
    assert _texts(changes["meta:31"]) == {
        "Objetivo": ("Objetivo 1", "Objetivo 2"), "Cantidad": ("40", "45,5"),
        "Fecha límite": ("30 de noviembre de 2025", "30 de noviembre de 2026")}
    assert _texts(changes["indicador:41"]) == {
        "Meta por año": ("2024: 32 %; 2025: 40 %", "2024: 32 %; 2025: 40 %; 2026: 45,5 %")}
    assert _texts(changes["actividad:51"]) == {
        "Costo estimado": ("$1.500.000", "$2.500.000"),
        "Trayectorias diversas": ("—", "Ruralidad, Población migrante")}
    assert all(change.section == "pmi" for change in changes.values())


def test_diff_names_removed_and_unknown_references() -> None:
    before = _content()
    after = _content(objetivos=[], metas=[], indicadores=[], actividades=[],
                     aplazamientos=[{"id": 61, "componente_id": 99, "razon": "Después."}])
    changes = {change.element: change for change in diff(before, after,
                                                          componentes={99: "GES.9.9 Otro"})}
    assert changes["aplazamiento:61"].kind_label == "Agregado"
    assert _texts(changes["aplazamiento:61"])["Oportunidad"] == ("—", "GES.9.9 Otro")
    removed = changes["meta:31"]
    assert (removed.kind_label, removed.label) == ("Eliminado", "Meta 1.1")
    assert _texts(removed)["Objetivo"] == ("Objetivo 1", "—")
    # Without a name for it, a componente is still said as a componente, not a bare id.
    unnamed = diff(before, after)
    assert [field.after_text for change in unnamed for field in change.fields
            if field.name == "componente_id"] == ["Componente 99"]


def test_diff_compares_the_autoevaluacion_summary() -> None:
    before = _content()
    summary = {
        "oportunidades": [
            {"componente_id": 7, "code": "ACA.2.1", "name": "Prácticas pedagógicas",
             "area": "Académica", "level": 1, "score": 80},
            {"componente_id": 9, "code": "ADM.1.1", "name": "Matrícula",
             "area": "Administrativa", "level": 2, "score": None},
            {"componente_id": 5, "code": "DIR.1.1", "name": "Misión, visión y principios",
             "area": "Directiva", "level": 1, "score": 60}],
        "fortalezas": [{"componente_id": 3, "code": "COM.1.1", "name": "Inclusión",
                        "area": "Comunidad", "level": 3}]}
    changes = [change for change in diff(before, _content(autoevaluacion=summary))
               if change.section == "autoevaluacion"]

    assert [(change.kind_label, change.label) for change in changes] == [
        ("Modificado", "ACA.2.1 Prácticas pedagógicas"), ("Modificado", "ADM.1.1 Matrícula"),
        ("Valorado", "COM.1.1 Inclusión")]
    assert _texts(changes[0]) == {"Valoración": ("Nivel 2", "Nivel 1"),
                                  "Puntaje de prioridad": ("—", "80")}
    assert _texts(changes[1]) == {
        "Clasificación": ("Fortaleza", "Oportunidad de mejoramiento"),
        "Valoración": ("Nivel 4", "Nivel 2")}
    assert _texts(changes[2]) == {"Clasificación": ("—", "Fortaleza"),
                                  "Valoración": ("—", "Nivel 3")}
    # The autoevaluación comes first: the plan answers to it.
    reordered = diff(before, _content(autoevaluacion=summary, plan={"presupuesto": 1}))
    assert [change.section for change in reordered][-1] == "pmi"
    assert [change.section for change in reordered][0] == "autoevaluacion"
