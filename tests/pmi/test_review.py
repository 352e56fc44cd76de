"""The review loop with itemized observations: write, return, answer, resubmit, judge."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from demo.pmi import fill_demo_pmi
from tests.conftest import PASSING_RUBRIC, Factory
from workflow.errors import Forbidden, GuardFailed, InvalidInput
from workflow.models import OutboxMessage, Ruta, RutaTransition, User
from workflow.observations import ObservationStatus
from workflow.pmi import actions as pmi_actions
from workflow.pmi import plan as pmi
from workflow.pmi import review
from workflow.pmi import versions as pmi_versions
from workflow.pmi.models import Meta
from workflow.pmi.versions import ElementChange, FieldChange
from workflow.roles import Role
from workflow.states import ReturnTarget, State

STATUS = ObservationStatus


def in_review(db: Session, make: Factory) -> tuple[Ruta, User, User]:
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    make.completed_self_assessment(ruta, level=2)
    rector = make.user(Role.RECTOR, school=ruta.school)
    reviewer = make.user(Role.REVISOR)
    fill_demo_pmi(db, ruta, actor=rector)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    return ruta, rector, reviewer


def first_meta(db: Session) -> Meta:
    meta = db.scalars(select(Meta).order_by(Meta.id)).first()
    assert meta is not None
    return meta


def test_review_loop_from_return_to_approval(db: Session, make: Factory) -> None:
    ruta, rector, reviewer = in_review(db, make)
    meta = first_meta(db)

    # Two itemized observations, then the return.
    on_meta = review.add_observation(
        db, ruta, reviewer=reviewer, element=f"meta:{meta.id}", criterion="3",
        text="La línea base no coincide con el reporte del ICFES de 2023.")
    on_plan = review.add_observation(
        db, ruta, reviewer=reviewer, element="plan", criterion="7",
        text="Falta la debilidad de lectura crítica en Saber 11.")
    entry = pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                                 expected_version=ruta.version, observations="",
                                                 target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
    summary = ("1. [Meta 1.1 · Criterio 3] La línea base no coincide con el reporte del ICFES "
               "de 2023.\n2. [El plan en general · Criterio 7] Falta la debilidad de lectura "
               "crítica en Saber 11.")
    assert (ruta.state, entry.observations) == (State.AUTOEVALUACION_ENVIADA, summary)
    assert [row.status for row in review.observations(db, ruta)] == [STATUS.ENVIADA] * 2
    mail = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ruta_devuelta")).one()
    assert summary in mail.text_body

    # Resubmitting before answering is refused, naming each observation.
    with pytest.raises(GuardFailed) as refused:
        pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    assert refused.value.reasons == [
        "Responda la observación 1 de la Secretaría (Meta 1.1) antes de volver a enviar el PMI.",
        "Responda la observación 2 de la Secretaría (El plan en general) antes de volver a "
        "enviar el PMI."]

    # The rector answers both, fixes the meta and resubmits.
    review.answer(db, ruta, on_meta.id, actor=rector, response="Corregida: 30 %.")
    review.answer(db, ruta, on_plan.id, actor=rector, response="La incluimos en 2025.")
    pmi.save_element(db, ruta, "meta", meta.id, {
        "objetivo_id": str(meta.objetivo_id), "enunciado": meta.enunciado, "cantidad": "45",
        "unidad": "%", "fecha_limite": "2026-10-31", "linea_base": "32"}, actor=rector)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)

    # The next review opens on what changed and on each answer.
    since = review.since_last_review(db, ruta)
    assert since is not None
    assert (since.older.number, since.newer.number) == (1, 2)
    assert since.changes == [ElementChange("changed", f"meta:{meta.id}", "Meta 1.1", [
        FieldChange("fecha_limite", "Fecha límite", "2026-11-30", "2026-10-31")])]
    assert [(row.status, row.response) for row in review.observations(db, ruta)] == [
        (STATUS.RESPONDIDA, "Corregida: 30 %."), (STATUS.RESPONDIDA, "La incluimos en 2025.")]

    # One resolved, one still open: approval is refused.
    review.judge(db, ruta, on_meta.id, reviewer=reviewer, resolved=True)
    review.judge(db, ruta, on_plan.id, reviewer=reviewer, resolved=False)
    with pytest.raises(GuardFailed) as blocked:
        pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                            rubric=PASSING_RUBRIC)
    assert blocked.value.reasons == [
        "La observación 2 (El plan en general) sigue sin resolver: sigue abierta."]
    assert ruta.state is State.EN_REVISION

    # Resolved: approved.
    review.judge(db, ruta, on_plan.id, reviewer=reviewer, resolved=True)
    pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                        rubric=PASSING_RUBRIC)
    assert ruta.state is State.APROBADO
    assert [row.status for row in review.observations(db, ruta)] == [STATUS.RESUELTA] * 2


def test_answered_but_unjudged_observations_block_approval(db: Session, make: Factory) -> None:
    """«Respondida» is the school's word, not the reviewer's: until the reviewer judges each
    answer, approval is refused, naming every one (before this test only Chromium caught it)."""
    ruta, rector, reviewer = in_review(db, make)
    first = review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="5",
                                   text="Revise los costos.")
    second = review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="7",
                                    text="Falta la debilidad de lectura crítica.")
    pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                         expected_version=ruta.version, observations="",
                                         target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
    review.answer(db, ruta, first.id, actor=rector, response="Costos corregidos.")
    review.answer(db, ruta, second.id, actor=rector, response="La incluimos en 2025.")
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    assert [row.status for row in review.observations(db, ruta)] == [STATUS.RESPONDIDA] * 2

    with pytest.raises(GuardFailed) as blocked:
        pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                            rubric=PASSING_RUBRIC)
    assert blocked.value.reasons == [
        "La observación 1 (El plan en general) sigue sin resolver: respondida por la "
        "institución.",
        "La observación 2 (El plan en general) sigue sin resolver: respondida por la "
        "institución."]
    assert ruta.state is State.EN_REVISION
    assert db.scalars(select(RutaTransition.trigger).where(
        RutaTransition.ruta_id == ruta.id, RutaTransition.trigger == "aprobar")).all() == []

    # One judged resolved: the other, still only answered, keeps blocking.
    review.judge(db, ruta, first.id, reviewer=reviewer, resolved=True)
    with pytest.raises(GuardFailed) as still:
        pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                            rubric=PASSING_RUBRIC)
    assert still.value.reasons == [
        "La observación 2 (El plan en general) sigue sin resolver: respondida por la "
        "institución."]
    assert ruta.state is State.EN_REVISION


@pytest.mark.parametrize("note", ["", " ", "Revisen la coherencia de todo el plan."])
def test_return_needs_an_itemized_observation(db: Session, make: Factory, note: str) -> None:
    ruta, _, reviewer = in_review(db, make)
    rows_before = db.scalars(select(RutaTransition.trigger)
                             .where(RutaTransition.ruta_id == ruta.id)).all()
    # A covering note alone is refused: there would be nothing to answer or resolve.
    with pytest.raises(GuardFailed) as refused:
        pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                             expected_version=ruta.version, observations=note,
                                             target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
    assert refused.value.reasons == [
        "Agregue al menos una observación antes de devolver: en «Revisión y observaciones» "
        "del PMI, sobre un elemento del plan o sobre «El plan en general», con el criterio de "
        "la Circular 0488 al que se refiere. El comentario general es opcional y acompaña a "
        "las observaciones."]
    assert ruta.state is State.EN_REVISION
    assert db.scalars(select(RutaTransition.trigger)
                      .where(RutaTransition.ruta_id == ruta.id)).all() == rows_before


def test_the_covering_note_goes_before_the_itemized_list(db: Session, make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="1",
                           text="Revise la coherencia con la autoevaluación.")
    entry = pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                                 expected_version=ruta.version,
                                                 observations="Comentario general.",
                                                 target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
    assert entry.observations == ("Comentario general.\n\n1. [El plan en general · Criterio 1] "
                                  "Revise la coherencia con la autoevaluación.")
    assert db.scalars(select(RutaTransition.trigger).order_by(RutaTransition.id)).all()[-1] \
        == "devolver"
    mail = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ruta_devuelta")).one()
    assert entry.observations in mail.text_body


def test_draft_observation_blocks_approval_until_deleted(db: Session, make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    draft = review.add_observation(db, ruta, reviewer=reviewer, element="plan",
                                   criterion="5", text="Revise los costos.")
    with pytest.raises(GuardFailed) as blocked:
        pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                            rubric=PASSING_RUBRIC)
    assert blocked.value.reasons == [
        "La observación 1 (El plan en general) sigue sin resolver: sin enviar (se envía al "
        "devolver)."]
    review.delete_draft(db, ruta, draft.id, reviewer=reviewer)
    pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                        rubric=PASSING_RUBRIC)
    assert ruta.state is State.APROBADO


def test_only_the_revisor_writes_and_only_the_rector_answers(db: Session,
                                                              make: Factory) -> None:
    ruta, rector, reviewer = in_review(db, make)
    with pytest.raises(Forbidden):
        review.add_observation(db, ruta, reviewer=rector, element="plan", criterion="1",
                               text="Yo mismo.")
    row = review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="2",
                                 text="Revise los indicadores.")
    pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                         expected_version=ruta.version, observations="",
                                         target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
    for stranger in (reviewer, make.user(Role.EQUIPO, school=ruta.school),
                     make.user(Role.RECTOR)):
        with pytest.raises(Forbidden):
            review.answer(db, ruta, row.id, actor=stranger, response="Listo.")
    assert review.observations(db, ruta)[0].status is STATUS.ENVIADA


def test_observation_needs_an_element_a_criterion_and_text(db: Session,
                                                            make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    with pytest.raises(InvalidInput) as refused:
        review.add_observation(db, ruta, reviewer=reviewer, element="meta:999999",
                               criterion="9", text="  ")
    assert refused.value.errors == {
        "elemento": ["Elija el elemento del plan al que se refiere la observación, o «El plan "
                     "en general»."],
        "criterio": ["Elija el criterio de la Circular 0488 al que se refiere."],
        "texto": ["Escriba la observación: qué debe corregir la institución y por qué."]}
    assert review.observations(db, ruta) == []


def test_return_with_only_a_still_open_observation_sends_it_again(db: Session,
                                                                  make: Factory) -> None:
    ruta, rector, reviewer = in_review(db, make)
    row = review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="6",
                                 text="Las actividades no alcanzan para la meta 2.1.")
    pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                         expected_version=ruta.version, observations="",
                                         target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
    review.answer(db, ruta, row.id, actor=rector, response="Agregamos una actividad.")
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    review.judge(db, ruta, row.id, reviewer=reviewer, resolved=False)

    entry = pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                                 expected_version=ruta.version, observations="",
                                                 target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)

    assert entry.observations == ("1. [El plan en general · Criterio 6] Las actividades no "
                                  "alcanzan para la meta 2.1.")
    assert row.status is STATUS.ABIERTA
    assert _submit_reasons(db, ruta, rector) == [
        "Responda la observación 1 de la Secretaría (El plan en general) antes de volver a "
        "enviar el PMI."]


def _submit_reasons(db: Session, ruta: Ruta, rector: User) -> list[str]:
    with pytest.raises(GuardFailed) as refused:
        pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    return refused.value.reasons


def _extra(db: Session, ruta: Ruta, trigger: str) -> list[dict[str, object]]:
    return [dict(row) for row in db.scalars(
        select(RutaTransition.extra).where(RutaTransition.ruta_id == ruta.id,
                                           RutaTransition.trigger == trigger)
        .order_by(RutaTransition.id))]


def test_take_return_and_approve_record_the_version_they_judged(db: Session,
                                                                make: Factory) -> None:
    ruta, rector, reviewer = in_review(db, make)
    row = review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="5",
                                 text="Revise los costos de las actividades.")
    pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                         expected_version=ruta.version, observations="",
                                         target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
    review.answer(db, ruta, row.id, actor=rector, response="Ajustados.")
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    review.judge(db, ruta, row.id, reviewer=reviewer, resolved=True)
    pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                        rubric=PASSING_RUBRIC)

    first, second = pmi_versions.snapshots(db, ruta)
    assert _extra(db, ruta, "tomar_revision") == [{"snapshot_id": first.id},
                                                   {"snapshot_id": second.id}]
    assert _extra(db, ruta, "devolver") == [{"snapshot_id": first.id, "return_target": "pmi"}]
    assert _extra(db, ruta, "aprobar") == [{"snapshot_id": second.id}]
    assert [(row.label, row.snapshot.number if row.snapshot else None)
            for row in pmi_versions.judgments(db, ruta)] == [
        ("Tomada para revisión", 1), ("Devuelta con observaciones", 1),
        ("Tomada para revisión", 2), ("Aprobada", 2)]
    approved = pmi_versions.approval(db, ruta)
    assert approved is not None and approved.snapshot is second
    assert pmi_versions.last_returned(db, ruta) is first


def test_an_approval_recorded_without_its_version_judged_the_latest(db: Session,
                                                                    make: Factory) -> None:
    ruta, _, reviewer = in_review(db, make)
    assert pmi_versions.approval(db, ruta) is None
    # As rows written before the version was recorded: no snapshot in ``extra``.
    db.add(RutaTransition(ruta=ruta, trigger="aprobar", from_state=State.EN_REVISION,
                          to_state=State.APROBADO, actor_id=reviewer.id, extra={}))
    db.flush()
    approved = pmi_versions.approval(db, ruta)
    assert approved is not None and approved.snapshot is not None
    assert approved.snapshot.number == 1
    assert pmi_versions.last_returned(db, ruta) is None
