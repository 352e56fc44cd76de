"""The PMI: editing rules, bad input, the ``formular_pmi`` guard, the CLI check, the demo."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from demo.pmi import fill_demo_pmi
from tests.conftest import Factory
from workflow.autoevaluacion.models import Estamento, TeamMember
from workflow.autoevaluacion.perfil import classification_for
from workflow.catalogo.catalog import rules_of
from workflow.errors import Forbidden, GuardFailed, InvalidInput, NotEditable
from workflow.models import Ruta, RutaTransition, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi import deletions
from workflow.pmi import plan as pmi
from workflow.pmi.checks import check_ruta
from workflow.pmi.models import (
    Actividad,
    Aplazamiento,
    Fuente,
    Hallazgo,
    Indicador,
    Meta,
    Objetivo,
    PmiSnapshot,
)
from workflow.pmi.versions import diff_snapshots, snapshots
from workflow.roles import Role
from workflow.states import State


def formulating(make: Factory, state: State = State.AUTOEVALUACION_ENVIADA,
                ) -> tuple[Ruta, User]:
    """A Ruta whose autoevaluación (five oportunidades at level 2) was sent, and its rector."""
    ruta = make.ruta(state=state)
    make.completed_self_assessment(ruta, level=2)
    return ruta, make.user(Role.RECTOR, school=ruta.school)


def count(db: Session, model: type[Any]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def an_objetivo(db: Session, ruta: Ruta, rector: User) -> Objetivo:
    componente = ruta.catalog.componentes[0]  # type: ignore[attr-defined]
    return pmi.save_element(db, ruta, "objetivo", None, {
        "enunciado": "Mejorar los desempeños en matemáticas de la media.",
        "componentes": [str(componente.id)]},
        actor=rector)


META = {"enunciado": "Aumentar al 45 % los estudiantes sobre el mínimo.", "cantidad": "45",
        "unidad": "%", "fecha_limite": "2026-11-30", "linea_base": "32"}


# --- editing and bad input ----------------------------------------------------------------


def test_rector_saves_a_meta_with_its_fields(db: Session, make: Factory) -> None:
    ruta, rector = formulating(make)
    objetivo = an_objetivo(db, ruta, rector)
    meta = pmi.save_element(db, ruta, "meta", None,
                            {**META, "objetivo_id": str(objetivo.id), "cantidad": "45,5 %",
                             "enunciado": "Aumentar al 45,5 % los estudiantes sobre el mínimo."},
                            actor=rector)
    assert (meta.objetivo_id, meta.cantidad, meta.unidad, meta.fecha_limite.isoformat(),
            meta.linea_base) == (objetivo.id, 45.5, "%", "2026-11-30", 32.0)


@pytest.mark.parametrize(("kind", "change", "errors"), [
    ("meta", {"cantidad": ""},
     {"cantidad": ["Escriba la cantidad de la meta: un número (por ejemplo, 60 o 12,5)."]}),
    ("meta", {"fecha_limite": "2027-03-01"},
     {"fecha_limite": ["La fecha límite de la meta (2027-03-01) queda fuera del horizonte del "
                       "plan (2024–2026)."]}),
    ("meta", {"cantidad": "-3"}, {"cantidad": ["La cantidad de la meta no puede ser negativa."]}),
    ("actividad", {"costo": "-500000"}, {"costo": ["El costo estimado no puede ser negativo."]}),
    ("actividad", {"fecha_inicio": "2023-12-01"},
     {"fecha_inicio": ["La fecha de inicio (2023-12-01) queda fuera del horizonte del plan "
                       "(2024–2026)."]}),
])
def test_bad_input_is_refused_with_a_spanish_message_and_nothing_saved(
        db: Session, make: Factory, kind: str, change: dict[str, str],
        errors: dict[str, list[str]]) -> None:
    ruta, rector = formulating(make)
    objetivo = an_objetivo(db, ruta, rector)
    meta = pmi.save_element(db, ruta, "meta", None, {**META, "objetivo_id": str(objetivo.id)},
                            actor=rector)
    form = ({**META, "objetivo_id": str(objetivo.id)} if kind == "meta" else
            {"meta_id": str(meta.id), "costo": "100000",
             "descripcion": "Talleres semanales de resolución de problemas."})
    before = (count(db, Meta), count(db, Actividad))
    with pytest.raises(InvalidInput) as refused:
        pmi.save_element(db, ruta, kind, None, {**form, **change}, actor=rector)
    assert refused.value.errors == errors
    assert (count(db, Meta), count(db, Actividad)) == before


def test_indicator_tied_to_a_meta_of_another_ruta_is_refused(db: Session,
                                                             make: Factory) -> None:
    ruta, rector = formulating(make)
    other, other_rector = formulating(make)
    foreign = pmi.save_element(db, other, "meta", None, {
        **META, "objetivo_id": str(an_objetivo(db, other, other_rector).id)},
        actor=other_rector)
    with pytest.raises(InvalidInput) as refused:
        pmi.save_element(db, ruta, "indicador", None, {
            "meta_id": str(foreign.id), "nombre": "Porcentaje", "formula": "a / b",
            "unidad": "%"}, actor=rector)
    assert refused.value.errors == {"meta_id": ["Elija la meta que mide el indicador de este "
                                                "PMI."]}
    assert count(db, Indicador) == 0


def test_editing_a_plan_under_review_is_refused(db: Session, make: Factory) -> None:
    ruta, rector = formulating(make, State.EN_REVISION)
    with pytest.raises(NotEditable) as refused:
        pmi.save_element(db, ruta, "hallazgo", None, {
            "fuente": "saber_11", "area": "Matemáticas",
            "descripcion": "El 68 % quedó en el nivel 1 de matemáticas."}, actor=rector)
    assert refused.value.message == (
        "El PMI no se puede modificar mientras la Ruta está en «PMI en revisión». Solo se "
        "formula con la autoevaluación enviada, o cuando la Secretaría lo devuelve al PMI.")
    assert refused.value.status == 409
    assert count(db, Hallazgo) == 0


def test_team_member_edits_the_plan_and_others_may_not(db: Session, make: Factory) -> None:
    ruta, rector = formulating(make)
    member = make.user(Role.EQUIPO, school=ruta.school)
    outsider = make.user(Role.EQUIPO, school=ruta.school)
    db.add(TeamMember(ruta_id=ruta.id, name=member.name, email=member.email,
                      estamento=Estamento.DOCENTE, user_id=member.id))
    db.flush()
    form = {"fuente": "interna", "area": "Lenguaje",
            "descripcion": "La reprobación del año en 6.° fue del 14 %."}
    saved = pmi.save_element(db, ruta, "hallazgo", None, form, actor=member)
    assert saved.fuente == Fuente.INTERNA.value
    for stranger in (outsider, make.user(Role.REVISOR), make.user(Role.CONSULTA)):
        with pytest.raises(Forbidden):
            pmi.save_element(db, ruta, "hallazgo", None, form, actor=stranger)
    assert count(db, Hallazgo) == 1


def test_deleting_an_objetivo_takes_its_metas(db: Session, make: Factory) -> None:
    ruta, rector = formulating(make)
    fill_demo_pmi(db, ruta, actor=rector)
    first = db.scalars(select(Objetivo).order_by(Objetivo.id)).first()
    assert first is not None
    done = deletions.delete_element(db, ruta, "objetivo", first.id, actor=rector)
    assert done.deletion.label == "Objetivo 1"
    assert (count(db, Objetivo), count(db, Meta), count(db, Indicador),
            count(db, Actividad)) == (1, 1, 1, 1)


# --- the guard ----------------------------------------------------------------------------


def test_formular_pmi_is_refused_while_a_blocking_rule_fails(db: Session,
                                                             make: Factory) -> None:
    ruta, rector = formulating(make)
    fill_demo_pmi(db, ruta, actor=rector, complete=False)
    expected = [finding.message for finding in check_ruta(db, ruta).blocking_failures]
    with pytest.raises(GuardFailed) as refused:
        pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    assert refused.value.reasons == expected
    assert expected[:2] == [
        "El plan en general: la oportunidad prioritaria «DIR.1.2 Metas institucionales» no la "
        "atiende ningún objetivo ni está aplazada con una razón.",
        "El plan en general: la oportunidad prioritaria «DIR.2.1 Consejo directivo» no la "
        "atiende ningún objetivo ni está aplazada con una razón."]
    assert "Meta 1.1: no tiene indicador." in expected
    assert ruta.state is State.AUTOEVALUACION_ENVIADA
    assert (count(db, RutaTransition), count(db, PmiSnapshot)) == (0, 0)


def test_formular_pmi_passes_with_a_complete_plan(db: Session, make: Factory) -> None:
    ruta, rector = formulating(make)
    fill_demo_pmi(db, ruta, actor=rector)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    assert ruta.state is State.PMI_FORMULADO
    assert count(db, PmiSnapshot) == 1


# --- the CLI ------------------------------------------------------------------------------


def test_cli_check_prints_the_report_and_fails_on_blocking_rules(app: Flask, db: Session,
                                                                 make: Factory) -> None:
    ruta, rector = formulating(make)
    fill_demo_pmi(db, ruta, actor=rector, complete=False)
    done, done_rector = formulating(make)
    fill_demo_pmi(db, done, actor=done_rector)
    db.commit()
    runner = app.test_cli_runner()

    failing = runner.invoke(args=["rutas", "check", str(ruta.id)])
    passing = runner.invoke(args=["rutas", "check", str(done.id)])
    missing = runner.invoke(args=["rutas", "check", "999999"])

    assert failing.exit_code == 1
    assert "[FALTA] meta_con_indicador (Obligatorio, criterio 2)" in failing.output
    assert "    - Meta 1.1: no tiene indicador." in failing.output
    assert failing.output.rstrip().endswith(
        "Faltan 5 verificaciones obligatorias para que el PMI esté completo y consistente "
        "para revisión.")
    assert passing.exit_code == 0
    assert passing.output.rstrip().endswith(
        "El PMI está completo y consistente para revisión. Si cumple cada criterio de la "
        "Circular 0488 lo juzga la Secretaría al revisarlo.")
    assert "cumple todos" not in passing.output
    assert (missing.exit_code, missing.output) == (1, "No existe la Ruta 999999.\n")


# --- the demo -----------------------------------------------------------------------------

PAST_FORMULATION = {State.PMI_FORMULADO, State.EN_REVISION, State.APROBADO, State.SEGUIMIENTO,
                    State.CERRADO}


def test_demo_plans_pass_once_sent_and_a_draft_shows_failures(app: Flask, db: Session) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--schools", "14",
                                                "--password", "clave-demo-larga"])
    assert result.exit_code == 0, result.output
    rutas = db.scalars(select(Ruta).order_by(Ruta.id)).all()
    sent = [ruta for ruta in rutas if ruta.state in PAST_FORMULATION]
    # Nine of the current horizon (a closed Ruta of an earlier horizon may precede them).
    assert len([ruta for ruta in sent if ruta.horizon_start_year == 2024]) == 9
    assert [ruta.id for ruta in sent if not check_ruta(db, ruta).passes] == []
    # Each school's objectives follow from its own priorities: every componente an objective
    # works on is one of its prioritised oportunidades, or the académica componente that
    # answers the pruebas externas (a fortaleza only with a written reason).
    linked_sets = set()
    for ruta in sent:
        rules = rules_of(db, ruta)
        classification = classification_for(db, ruta)
        scored = [o for o in classification.oportunidades if o.score is not None]
        top = {o.item.componente_id for o in scored[:rules.priority_count]}
        fortalezas = {item.componente_id for item in classification.fortalezas}
        for objetivo in db.scalars(select(Objetivo).where(Objetivo.ruta_id == ruta.id)):
            ids = {c.id for c in objetivo.componentes}
            linked_sets.add(frozenset(ids))
            outside = ids - top
            assert not outside or {c.proceso.area.code for c in objetivo.componentes
                                   if c.id in outside} == {"ACA"}, ruta.school.name
            assert not ids & fortalezas or objetivo.razon_fortaleza
        values = db.scalars(select(Hallazgo.valor).where(Hallazgo.ruta_id == ruta.id)).all()
        assert values and None not in values
    assert len(linked_sets) >= 10  # not the same two objectives everywhere
    # A Ruta returned to the PMI was changed before it was sent again: a real diff.
    resent = [ruta for ruta in sent if len(snapshots(db, ruta)) >= 2]
    assert resent
    changes = diff_snapshots(db, resent[0], 1, 2)
    assert {change.kind for change in changes} >= {"added", "changed"}
    drafts = [ruta for ruta in rutas if ruta.state is State.AUTOEVALUACION_ENVIADA
              and not check_ruta(db, ruta).passes]
    assert len(drafts) == 2
    assert {result.rule.id for result in check_ruta(db, drafts[0]).results
            if not result.passed} >= {"meta_con_indicador", "meta_con_actividades"}


def test_deferral_is_edited_in_place_and_not_duplicated(db: Session, make: Factory) -> None:
    ruta, rector = formulating(make)
    componente = ruta.catalog.componentes[1]  # type: ignore[attr-defined]
    form = {"componente_id": str(componente.id), "razon": "La atiende la Ruta siguiente."}
    deferred = pmi.save_element(db, ruta, "aplazamiento", None, form, actor=rector)
    edited = pmi.save_element(db, ruta, "aplazamiento", deferred.id,
                              {**form, "razon": "Sin recursos en este horizonte."},
                              actor=rector)
    assert (edited.id, edited.razon) == (deferred.id, "Sin recursos en este horizonte.")
    with pytest.raises(InvalidInput) as refused:
        pmi.save_element(db, ruta, "aplazamiento", None, form, actor=rector)
    assert refused.value.errors == {"componente_id": ["«DIR.1.2» ya está aplazada."]}
    assert count(db, Aplazamiento) == 1
