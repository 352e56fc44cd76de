"""The reviewer's rubric in the domain: required, notes, approval refused, stored per round."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC, Factory
from tests.core.test_race import run_together
from tests.pmi.test_review import in_review
from workflow.errors import GuardFailed, InvalidInput, InvalidTransition, StaleRuta
from workflow.models import Ruta, RutaTransition, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.pmi import rubric as rubrics
from workflow.pmi import versions as pmi_versions
from workflow.pmi.models import Decision, RubricVerdict, Verdict
from workflow.states import ReturnTarget, State

NOTE = "Las metas 1.1 y 2.1 no dicen en qué unidad se miden."


def with_verdicts(**changes: tuple[str, str]) -> dict[int, tuple[str, str]]:
    """PASSING_RUBRIC with some criteria changed: ``c3=("no_cumple", "…")``, ``c0=…``."""
    return {**PASSING_RUBRIC, **{int(key[1:]): value for key, value in changes.items()}}


def return_plan(db: Session, ruta: Ruta, reviewer: User,
                rubric: dict[int, tuple[str, str]]) -> RutaTransition:
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="3",
                           text=NOTE)
    return pmi_actions.return_with_observations(
        db, ruta, reviewer=reviewer, expected_version=ruta.version, observations="",
        target=ReturnTarget.PMI, rubric=rubric)


def resend(db: Session, ruta: Ruta, rector: User, reviewer: User) -> None:
    for row in review.unanswered(db, ruta):
        review.answer(db, ruta, row.id, actor=rector, response="Agregamos la unidad: %.")
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    for row in review.open_observations(db, ruta):
        review.judge(db, ruta, row.id, reviewer=reviewer, resolved=True)


def stored(db: Session) -> list[tuple[int, int, str, str, str]]:
    return [(row.round, row.criterion, row.decision.value, row.verdict.value, row.note)
            for row in db.scalars(select(RubricVerdict).order_by(RubricVerdict.id))]


def test_rubric_judges_the_eight_criteria_and_divulgacion() -> None:
    assert rubrics.ORDER == (1, 2, 3, 4, 5, 6, 7, 8, 0)
    assert frozenset({1, 2, 3, 4, 5, 6, 7}) == rubrics.OBLIGATORY


def test_rubric_without_verdicts_says_so_per_field(db: Session, make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    with pytest.raises(InvalidInput) as refused:
        return_plan(db, ruta, reviewer, {3: ("no_cumple", NOTE)})
    assert set(refused.value.errors) == {
        f"rubrica-{criterion}-veredicto" for criterion in (1, 2, 4, 5, 6, 7, 8, 0)}
    assert refused.value.errors["rubrica-8-veredicto"] == [
        "Valore el criterio 8: «cumple», «cumple parcialmente» o «no cumple»."]
    assert refused.value.errors["rubrica-0-veredicto"] == [
        "Valore la divulgación (Guía 34): «cumple», «cumple parcialmente» o «no cumple»."]
    assert ruta.state is State.EN_REVISION


@pytest.mark.parametrize("verdict", ["no_cumple", "cumple_parcialmente"])
def test_note_is_required_unless_cumple(db: Session, make: Factory, verdict: str) -> None:
    ruta, _, reviewer = in_review(db, make)
    with pytest.raises(InvalidInput) as refused:
        return_plan(db, ruta, reviewer, with_verdicts(c3=(verdict, "   ")))
    label = Verdict(verdict).label.lower()
    assert refused.value.errors == {"rubrica-3-nota": [
        f"Escriba la nota del criterio 3: qué le falta al plan para cumplir (la valoró "
        f"«{label}»)."]}
    db.rollback()
    assert db.scalar(select(func.count()).select_from(RubricVerdict)) == 0


def test_unknown_verdict_is_refused(db: Session, make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    with pytest.raises(InvalidInput) as refused:
        return_plan(db, ruta, reviewer, with_verdicts(c2=("excelente", "")))
    assert list(refused.value.errors) == ["rubrica-2-veredicto"]


def test_return_stores_the_rubric_with_the_snapshot_judged(db: Session, make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    entry = return_plan(db, ruta, reviewer, with_verdicts(
        c3=("no_cumple", f"  {NOTE}  "), c8=("cumple_parcialmente", "Sin oferta CLEI.")))
    db.commit()

    snapshot = pmi_versions.latest(db, ruta)
    assert snapshot is not None and snapshot.number == 1
    rows = db.scalars(select(RubricVerdict).order_by(RubricVerdict.id)).all()
    assert [(row.criterion, row.verdict) for row in rows] == [
        (1, Verdict.CUMPLE), (2, Verdict.CUMPLE), (3, Verdict.NO_CUMPLE), (4, Verdict.CUMPLE),
        (5, Verdict.CUMPLE), (6, Verdict.CUMPLE), (7, Verdict.CUMPLE),
        (8, Verdict.PARCIAL), (0, Verdict.CUMPLE)]
    assert {(row.ruta_id, row.transition_id, row.snapshot_id, row.round, row.decision,
             row.author_id, row.decided_at) for row in rows} == {
        (ruta.id, entry.id, snapshot.id, 1, Decision.DEVUELTO, reviewer.id, entry.at)}
    assert rows[2].note == NOTE  # stripped
    assert rows[0].note == ""


def test_approval_with_an_obligatory_no_cumple_is_refused(db: Session, make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    db.commit()
    with pytest.raises(GuardFailed) as refused:
        pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                            rubric=with_verdicts(c3=("no_cumple", NOTE)))
    assert refused.value.reasons == [
        "No se puede aprobar con «no cumple» en el criterio 3 (Las metas contienen cantidad, "
        "unidad de medida y tiempo): es obligatorio en la Circular 0488. Devuelva el plan con "
        "observaciones, o cambie la valoración si el plan sí cumple."]
    db.rollback()
    assert db.get(Ruta, ruta.id).state is State.EN_REVISION
    assert db.scalar(select(func.count()).select_from(RubricVerdict)) == 0
    assert db.scalar(select(func.count()).select_from(RutaTransition).where(
        RutaTransition.trigger == "aprobar")) == 0


@pytest.mark.parametrize("criterion", [1, 2, 3, 4, 5, 6, 7])
def test_every_obligatory_criterion_blocks_approval(db: Session, make: Factory,
                                                    criterion: int) -> None:
    ruta, _, reviewer = in_review(db, make)
    with pytest.raises(GuardFailed) as refused:
        pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                            rubric={**PASSING_RUBRIC, criterion: ("no_cumple", NOTE)})
    assert len(refused.value.reasons) == 1
    assert f"en el criterio {criterion} (" in refused.value.reasons[0]


def test_criterion_8_and_divulgacion_no_cumple_do_not_block(db: Session, make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                        rubric=with_verdicts(c8=("no_cumple", "No articula trayectorias."),
                                             c0=("no_cumple", "Sin fecha de divulgación."),
                                             c5=("cumple_parcialmente", "Cronograma justo.")))
    db.commit()
    assert ruta.state is State.APROBADO
    approved = rubrics.approved_round(db, ruta)
    assert approved is not None
    assert [(row.criterion, row.verdict.value) for row in approved.failing] == [
        (5, "cumple_parcialmente"), (8, "no_cumple"), (0, "no_cumple")]


def test_open_observations_and_a_no_cumple_are_reported_together(db: Session,
                                                                 make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="7",
                           text="Falta Saber 11.")
    with pytest.raises(GuardFailed) as refused:
        pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                            rubric=with_verdicts(c7=("no_cumple", "Falta Saber 11.")))
    assert [reason.split(" ")[0:3] for reason in refused.value.reasons] == [
        ["La", "observación", "1"], ["No", "se", "puede"]]


def test_rounds_keep_their_history(db: Session, make: Factory) -> None:
    ruta, rector, reviewer = in_review(db, make)
    return_plan(db, ruta, reviewer, with_verdicts(c3=("no_cumple", NOTE)))
    resend(db, ruta, rector, reviewer)
    pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                        rubric=with_verdicts(c3=("cumple_parcialmente", "Unidad agregada.")))
    db.commit()

    found = rubrics.rounds(db, ruta)
    assert [(item.number, item.decision, item.snapshot.number if item.snapshot else None)
            for item in found] == [(1, Decision.DEVUELTO, 1), (2, Decision.APROBADO, 2)]
    assert [(row.criterion, row.verdict.value, row.note) for row in found[0].failing] == [
        (3, "no_cumple", NOTE)]
    assert [(row.criterion, row.verdict.value) for row in found[1].failing] == [
        (3, "cumple_parcialmente")]
    assert rubrics.approved_round(db, ruta) == found[1]
    assert rubrics.round_of_snapshot(db, ruta, found[0].snapshot) == found[0]


def test_wrong_state_and_stale_version_answer_before_the_rubric(db: Session,
                                                                make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    with pytest.raises(StaleRuta):
        pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version - 1,
                            rubric={})
    other = make.ruta(state=State.PMI_FORMULADO)
    with pytest.raises(InvalidTransition):
        pmi_actions.approve(db, other, reviewer=reviewer, expected_version=other.version,
                            rubric={})


def test_database_refuses_a_failing_verdict_without_note(db: Session, make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    entry = return_plan(db, ruta, reviewer, PASSING_RUBRIC)
    db.add(RubricVerdict(ruta_id=ruta.id, transition_id=entry.id, round=9,
                         decision=Decision.DEVUELTO, criterion=3, verdict=Verdict.NO_CUMPLE,
                         note="  ", author_id=reviewer.id, decided_at=entry.at))
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def test_a_round_is_judged_once(db: Session, make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    entry = return_plan(db, ruta, reviewer, PASSING_RUBRIC)
    db.add(RubricVerdict(ruta_id=ruta.id, transition_id=entry.id, round=1,
                         decision=Decision.APROBADO, criterion=3, verdict=Verdict.CUMPLE,
                         note="", author_id=reviewer.id, decided_at=entry.at))
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


@pytest.mark.postgres
def test_two_tabs_deciding_at_once_store_one_rubric(backend: str, app: Flask, db: Session,
                                                    make: Factory) -> None:
    """The reviewer who holds the Ruta decides in two tabs at once: one decision and one rubric
    are stored, the other tab is told the Ruta changed. (Another reviewer cannot decide at all:
    whoever takes it holds it, ``tests/pmi/test_takeover.py``.)"""
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    ruta, _, first = in_review(db, make)
    db.commit()
    factory = app.extensions["ruta_db"].session_factory
    loaded = threading.Barrier(2)
    notes = {1: "Primera pestaña.", 2: "Segunda pestaña."}

    def approve_in(tab: int) -> str:
        with factory() as session:
            mine = session.get(Ruta, ruta.id)
            reviewer = session.get(User, first.id)
            version = mine.version
            loaded.wait()  # both have read the same version before either writes
            pmi_actions.approve(session, mine, reviewer=reviewer, expected_version=version,
                                rubric=with_verdicts(c8=("no_cumple", notes[tab])))
            session.commit()
            return notes[tab]

    results = run_together(lambda: approve_in(1), lambda: approve_in(2))

    assert sorted(type(result).__name__ for result in results) == ["StaleRuta", "str"]
    winner = next(result for result in results if isinstance(result, str))
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.APROBADO
    assert [(row[0], row[1], row[4]) for row in stored(db) if row[3] != "cumple"] == [
        (1, 8, winner)]
    assert len(stored(db)) == 9
