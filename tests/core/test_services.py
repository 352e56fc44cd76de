"""Services: permission, freshness, the machine, and the exact audit row, in one flush."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from blueprints.rutas import ACTIONS, fire_action
from demo.cierre import record_demo_final_evaluation
from demo.pmi import fill_demo_pmi
from tests.conftest import PASSING_RUBRIC, Factory
from tests.query_counter import counting_statements
from workflow import services
from workflow.autoevaluacion import actions as auto_actions
from workflow.cierre import actions as cierre_actions
from workflow.errors import Forbidden, GuardFailed, InvalidTransition, NotFound, StaleRuta
from workflow.guards import CORE_PROVIDERS
from workflow.horizontes import opening
from workflow.models import OPENED, Ruta, RutaTransition, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.roles import Role
from workflow.seguimiento import actions as seguimiento_actions
from workflow.states import GUARDS, ReturnTarget, State, Trigger

ITEMIZED = "La meta 2 no tiene unidad de medida."


def only_log_row(db: Session, ruta: Ruta) -> dict[str, Any]:
    rows = db.scalars(select(RutaTransition).where(RutaTransition.ruta_id == ruta.id)).all()
    assert len(rows) == 1
    row = rows[0]
    return {"trigger": row.trigger, "from": row.from_state, "to": row.to_state,
            "actor": row.actor_id, "observations": row.observations, "extra": row.extra}


CASES: list[tuple[State, Trigger, Role, dict[str, Any], State, dict[str, Any]]] = [
    (State.BORRADOR, Trigger.ENVIAR_AUTOEVALUACION, Role.RECTOR, {},
     State.AUTOEVALUACION_ENVIADA, {}),
    (State.AUTOEVALUACION_ENVIADA, Trigger.FORMULAR_PMI, Role.RECTOR, {},
     State.PMI_FORMULADO, {}),
    (State.PMI_FORMULADO, Trigger.TOMAR_REVISION, Role.REVISOR, {}, State.EN_REVISION, {}),
    (State.EN_REVISION, Trigger.APROBAR, Role.REVISOR, {"observations": "  Bien hecho. "},
     State.APROBADO, {}),
    (State.EN_REVISION, Trigger.DEVOLVER, Role.REVISOR,
     {"observations": "Falta la unidad de la meta 2.", "target": ReturnTarget.PMI},
     State.AUTOEVALUACION_ENVIADA, {"return_target": "pmi"}),
    (State.EN_REVISION, Trigger.DEVOLVER, Role.REVISOR,
     {"observations": "Rehagan la valoración académica.",
      "target": ReturnTarget.AUTOEVALUACION},
     State.BORRADOR, {"return_target": "autoevaluacion"}),
    (State.APROBADO, Trigger.INICIAR_SEGUIMIENTO, Role.REVISOR, {}, State.SEGUIMIENTO, {}),
    (State.SEGUIMIENTO, Trigger.CERRAR, Role.REVISOR, {}, State.CERRADO, {}),
]


@pytest.mark.parametrize(("start", "trigger", "role", "given", "end", "extra"), CASES,
                         ids=[f"{case[1].value}-{case[4].value}" for case in CASES])
def test_service_moves_state_and_writes_exact_log_row(
        db: Session, make: Factory, start: State, trigger: Trigger, role: Role,
        given: dict[str, Any], end: State, extra: dict[str, Any]) -> None:
    ruta = make.ruta(state=start)
    if trigger is Trigger.ENVIAR_AUTOEVALUACION:
        make.completed_self_assessment(ruta)  # what its guard requires
    actor = make.user(role, school=ruta.school if role is Role.RECTOR else None)
    if trigger is Trigger.FORMULAR_PMI:
        make.completed_self_assessment(ruta, level=2)  # oportunidades for the PMI to address
        fill_demo_pmi(db, ruta, actor=actor)  # a PMI that passes its guard
    if trigger is Trigger.CERRAR:  # its guard: the final evaluation, recorded
        ruta = _with_recorded_final_evaluation(db, make)
    expected_observations = given.get("observations", "").strip() or None
    if trigger is Trigger.DEVOLVER:  # its guard: an itemized observation to send
        review.add_observation(db, ruta, reviewer=actor, element="plan", criterion="3",
                               text=ITEMIZED)
        expected_observations = (f"{expected_observations}\n\n1. [El plan en general · "
                                 f"Criterio 3] {ITEMIZED}")
    version = ruta.version

    if trigger in (Trigger.APROBAR, Trigger.DEVOLVER):  # a decision carries the rubric
        given = {**given, "rubric": PASSING_RUBRIC}
    fire_action(db, ruta, trigger, actor=actor, expected_version=version, **given)
    db.commit()

    db.expire_all()
    assert ruta.state is end
    assert ruta.version == version + 1
    assert only_log_row(db, ruta) == {
        "trigger": trigger.value, "from": start, "to": end, "actor": actor.id,
        "observations": expected_observations, "extra": extra}


def _with_recorded_final_evaluation(db: Session, make: Factory) -> Ruta:
    """A Ruta in seguimiento whose rector recorded the final evaluation (``cerrar``'s guard)."""
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    make.completed_self_assessment(ruta, level=2)
    rector = make.user(Role.RECTOR, school=ruta.school)
    fill_demo_pmi(db, ruta, actor=rector)
    ruta.state = State.SEGUIMIENTO
    db.flush()
    record_demo_final_evaluation(db, ruta, rector=rector,
                                 now=datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
    db.flush()
    return ruta


def test_taking_a_plan_records_the_reviewer(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.PMI_FORMULADO)
    reviewer = make.user(Role.REVISOR)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    assert ruta.reviewer_id == reviewer.id


def test_system_starts_follow_up_without_an_actor(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.APROBADO)
    seguimiento_actions.start_follow_up(db, ruta, actor=None, expected_version=ruta.version)
    assert ruta.state is State.SEGUIMIENTO
    assert only_log_row(db, ruta)["actor"] is None


def test_transitions_left_pending_are_written_together(app: Flask, db: Session, make: Factory,
                                                        backend: str) -> None:
    rutas = [make.ruta(state=State.APROBADO) for _ in range(3)]
    versions = [ruta.version for ruta in rutas]
    entries = [seguimiento_actions.start_follow_up(db, ruta, actor=None,
                                                   expected_version=ruta.version,
                                                   notify=False, flush=False)
               for ruta in rutas]
    assert all(entry.id is None for entry in entries)  # nothing written yet
    with counting_statements(app) as statements:
        services.flush_transitions(db, entries)
    # The three Rutas in one UPDATE sent once (executemany), then the audit rows: in one
    # INSERT on PostgreSQL (SQLite's driver inserts them one by one).
    assert [statement.split()[:3] for statement in statements.sent] == [
        ["UPDATE", "rutas", "SET"]] + [["INSERT", "INTO", "ruta_transitions"]] * (
        1 if backend == "postgresql" else 3)
    # What the session holds is what was stored: the next version, nothing left to write.
    assert [ruta.version for ruta in rutas] == [version + 1 for version in versions]
    assert not any(ruta in db.dirty for ruta in rutas)
    db.commit()
    db.expire_all()
    for ruta, version in zip(rutas, versions, strict=True):
        stored = db.get(Ruta, ruta.id)
        assert (stored.state, stored.version) == (State.SEGUIMIENTO, version + 1)
        assert only_log_row(db, ruta) == {"trigger": "iniciar_seguimiento",
                                          "from": State.APROBADO, "to": State.SEGUIMIENTO,
                                          "actor": None, "observations": None, "extra": {}}


def test_a_pending_transition_whose_ruta_moved_meanwhile_is_not_written(
        app: Flask, db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.APROBADO)
    revisor = make.user(Role.REVISOR)
    db.commit()
    entry = seguimiento_actions.start_follow_up(db, ruta, actor=None,
                                                expected_version=ruta.version, notify=False,
                                                flush=False)
    with app.extensions["ruta_db"].session_factory() as other:
        theirs = other.get(Ruta, ruta.id)
        seguimiento_actions.start_follow_up(other, theirs, actor=other.get(User, revisor.id),
                                            expected_version=theirs.version)
        other.commit()
    with pytest.raises(StaleDataError):
        services.flush_transitions(db, [entry])
    db.rollback()
    assert [row.actor_id for row in db.scalars(select(RutaTransition).where(
        RutaTransition.ruta_id == ruta.id))] == [revisor.id]


def test_a_transition_left_pending_cannot_notify(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.APROBADO)
    with pytest.raises(ValueError, match="flushed audit row"):
        seguimiento_actions.start_follow_up(db, ruta, actor=None, expected_version=ruta.version,
                                            flush=False)
    assert ruta.state is State.APROBADO


@pytest.mark.parametrize("role", [Role.EQUIPO, Role.ADMINISTRADOR, Role.CONSULTA, Role.REVISOR])
def test_only_the_rector_submits_the_self_assessment(db: Session, make: Factory,
                                                     role: Role) -> None:
    ruta = make.ruta(state=State.BORRADOR)
    actor = make.user(role, school=ruta.school if role.belongs_to_school else None)
    with pytest.raises(Forbidden):
        auto_actions.submit_self_assessment(db, ruta, actor=actor, expected_version=ruta.version)
    assert ruta.state is State.BORRADOR
    assert db.scalars(select(RutaTransition)).all() == []


def test_rector_of_another_school_does_not_see_the_ruta(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.BORRADOR)
    stranger = make.user(Role.RECTOR)
    with pytest.raises(NotFound):
        auto_actions.submit_self_assessment(db, ruta, actor=stranger, expected_version=ruta.version)


def test_reviewer_of_another_secretaria_does_not_see_the_ruta(db: Session,
                                                              make: Factory) -> None:
    ruta = make.ruta(state=State.PMI_FORMULADO)
    tolima = make.secretaria("Secretaría de Educación del Tolima", divipola="73")
    outsider = make.user(Role.REVISOR, secretaria=tolima)
    with pytest.raises(NotFound):
        pmi_actions.take_for_review(db, ruta, reviewer=outsider, expected_version=ruta.version)


def test_wrong_state_is_an_invalid_transition(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.BORRADOR)
    reviewer = make.user(Role.REVISOR)
    with pytest.raises(InvalidTransition) as raised:
        pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                            rubric=PASSING_RUBRIC)
    assert "Autoevaluación en curso" in raised.value.message
    assert ruta.state is State.BORRADOR


def test_stale_version_is_refused(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.PMI_FORMULADO)
    reviewer = make.user(Role.REVISOR)
    with pytest.raises(StaleRuta):
        pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version - 1)
    assert ruta.state is State.PMI_FORMULADO


@pytest.mark.parametrize("observations", ["", "   \n\t ", "Corrijan las metas del plan."])
def test_return_without_itemized_observations_is_refused_with_reason(
        db: Session, make: Factory, observations: str) -> None:
    ruta = make.ruta(state=State.EN_REVISION)
    reviewer = make.user(Role.REVISOR)
    with pytest.raises(GuardFailed) as raised:
        pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                             expected_version=ruta.version,
                                             observations=observations, target=ReturnTarget.PMI,
                                             rubric=PASSING_RUBRIC)
    assert raised.value.reasons == [review.NO_OBSERVATIONS_REASON]
    assert "Agregue al menos una observación" in review.NO_OBSERVATIONS_REASON
    assert ruta.state is State.EN_REVISION
    assert db.scalars(select(RutaTransition)).all() == []


def test_return_without_a_target_says_so(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.EN_REVISION)
    reviewer = make.user(Role.REVISOR)
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="3",
                           text=ITEMIZED)
    with pytest.raises(GuardFailed) as raised:
        pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                             expected_version=ruta.version,
                                             observations="Corregir metas.", target=None,
                                             rubric=PASSING_RUBRIC)
    assert raised.value.reasons == [
        "Indique a qué etapa vuelve la Ruta: al PMI o a la autoevaluación."]


def test_inactive_user_may_fire_nothing(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.PMI_FORMULADO)
    reviewer = make.user(Role.REVISOR, active=False)
    assert services.available_actions(reviewer, ruta) == []
    with pytest.raises((Forbidden, NotFound)):
        pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)


def test_available_actions_follow_machine_and_role(make: Factory) -> None:
    ruta = make.ruta(state=State.EN_REVISION)
    rector = make.user(Role.RECTOR, school=ruta.school)
    reviewer = make.user(Role.REVISOR)
    assert services.available_actions(rector, ruta) == []
    assert services.available_actions(reviewer, ruta) == [Trigger.APROBAR, Trigger.DEVOLVER]


def test_open_ruta_logs_the_opening_and_is_idempotent(db: Session, make: Factory) -> None:
    school = make.school()
    admin = make.user(Role.ADMINISTRADOR)
    first = opening.open_ruta(db, school, actor=admin)
    again = opening.open_ruta(db, school, actor=admin)
    assert first is again
    assert (first.horizon_start_year, first.horizon_end_year, first.state) == (
        2024, 2026, State.BORRADOR)
    assert only_log_row(db, first) == {"trigger": OPENED, "from": None,
                                       "to": State.BORRADOR, "actor": admin.id,
                                       "observations": None, "extra": {}}


def test_one_ruta_per_school_and_horizon_in_the_database(db: Session, make: Factory) -> None:
    school = make.school()
    make.ruta(school=school)
    with pytest.raises(IntegrityError):
        make.ruta(school=school)


def _log_row(db: Session, make: Factory) -> RutaTransition:
    ruta = make.ruta(state=State.EN_REVISION)
    reviewer = make.user(Role.REVISOR)
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="3",
                           text=ITEMIZED)
    entry = pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                                 expected_version=ruta.version,
                                                 observations="Corregir.",
                                                 target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
    db.commit()
    return entry


@pytest.mark.parametrize("statement", [
    "UPDATE ruta_transitions SET observations = 'otra cosa' WHERE id = :id",
    "DELETE FROM ruta_transitions WHERE id = :id",
])
def test_log_is_append_only_in_the_database(db: Session, make: Factory,
                                            statement: str) -> None:
    entry = _log_row(db, make)
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text(statement), {"id": entry.id})
    db.rollback()
    assert db.get(RutaTransition, entry.id).observations == (
        f"Corregir.\n\n1. [El plan en general · Criterio 3] {ITEMIZED}")


def test_database_refuses_a_return_without_observations(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.EN_REVISION)
    db.add(RutaTransition(ruta=ruta, trigger="devolver", from_state=State.EN_REVISION,
                          to_state=State.BORRADOR, observations="  "))
    with pytest.raises(IntegrityError):
        db.flush()


def test_helpers_are_exhaustive() -> None:
    assert set(ACTIONS) | {Trigger.DEVOLVER, Trigger.APROBAR} == set(Trigger)




def test_a_transition_without_its_guard_provider_is_refused_loudly(db: Session,
                                                                  make: Factory) -> None:
    # The core does not know the stages' facts: an action that forgot to pass its guard's
    # provider must not fire the trigger as if the guard had passed.
    ruta = make.ruta()
    rector = make.user(Role.RECTOR, school=ruta.school)
    with pytest.raises(LookupError, match="self_assessment_complete"):
        services.transition(db, ruta, Trigger.ENVIAR_AUTOEVALUACION, actor=rector,
                            expected_version=ruta.version)
    assert ruta.state is State.BORRADOR


def test_every_named_guard_has_a_provider_in_some_action() -> None:
    # The core's own providers plus those the stages' actions pass cover the machine's names.
    stage_providers = {provider.__name__ for provider in (
        auto_actions.self_assessment_complete, pmi_actions.pmi_passes_blocking_checks,
        pmi_actions.has_observations, pmi_actions.no_open_observations,
        pmi_actions.rubric_allows_approval([]), cierre_actions.final_evaluation_recorded)}
    assert set(GUARDS) == set(CORE_PROVIDERS) | stage_providers
