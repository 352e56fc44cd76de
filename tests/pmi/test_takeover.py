"""Whoever takes a review holds it; another revisor takes it over with a reason (issue 14.2).

Also: closing a Ruta is refused while a report or an observation of it is pending.
"""

from __future__ import annotations

import threading
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC, Factory
from tests.core.test_race import run_together
from tests.pmi.test_review import first_meta, in_review
from tests.seguimiento.test_seguimiento import bogota, build_plan, sent
from workflow.cierre import actions as cierre_actions
from workflow.errors import Forbidden, GuardFailed, InvalidInput, StaleRuta
from workflow.models import OutboxMessage, Ruta, RutaTakeover, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review, takeover
from workflow.roles import Role
from workflow.seguimiento import reports as seguimiento
from workflow.states import State

REASON = "La revisora está incapacitada esta semana."


def takeovers(db: Session, ruta_id: int) -> int:
    return db.scalar(select(func.count()).select_from(RutaTakeover)
                     .where(RutaTakeover.ruta_id == ruta_id)) or 0


def mails(db: Session, kind: str) -> list[OutboxMessage]:
    return list(db.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def test_only_the_holder_approves_or_returns(db: Session, make: Factory) -> None:
    ruta, _rector, first = in_review(db, make)
    second = make.user(Role.REVISOR)
    with pytest.raises(GuardFailed) as refused:
        pmi_actions.approve(db, ruta, reviewer=second, expected_version=ruta.version,
                            rubric=PASSING_RUBRIC)
    assert refused.value.reasons[0].startswith(
        f"La revisión de esta Ruta está en manos de {first.name}")
    assert f"«Tomar de {first.name}»" in refused.value.reasons[0]
    review.add_observation(db, ruta, reviewer=first, element=f"meta:{first_meta(db).id}",
               criterion=1, text="Precise la línea base.")
    with pytest.raises(GuardFailed):
        pmi_actions.return_with_observations(
            db, ruta, reviewer=second, expected_version=ruta.version, observations="",
            target=None, rubric=PASSING_RUBRIC)
    assert ruta.state is State.EN_REVISION and ruta.reviewer_id == first.id


def test_take_over_logs_mails_the_first_and_lets_the_second_decide(db: Session,
                                                                   make: Factory) -> None:
    ruta, _rector, first = in_review(db, make)
    second = make.user(Role.REVISOR)
    row = takeover.take_over(db, ruta, reviewer=second, expected_version=ruta.version,
                             reason=f"  {REASON}  ")
    db.commit()
    assert row is not None and row.reason == REASON
    assert (row.from_user_id, row.to_user_id, ruta.reviewer_id) == (first.id, second.id,
                                                                    second.id)
    assert takeover.since(db, ruta) == row.at
    [mail] = mails(db, "revision_tomada")
    assert mail.recipients == [first.email] and mail.ruta_id == ruta.id
    assert second.name in mail.subject and REASON in mail.text_body
    # Now the first may not decide, and the second may.
    with pytest.raises(GuardFailed):
        pmi_actions.approve(db, ruta, reviewer=first, expected_version=ruta.version,
                            rubric=PASSING_RUBRIC)
    pmi_actions.approve(db, ruta, reviewer=second, expected_version=ruta.version,
                        rubric=PASSING_RUBRIC)
    assert ruta.state is State.APROBADO


def test_take_over_again_changes_nothing(db: Session, make: Factory) -> None:
    ruta, _rector, _first = in_review(db, make)
    second = make.user(Role.REVISOR)
    version = ruta.version
    takeover.take_over(db, ruta, reviewer=second, expected_version=version, reason=REASON)
    db.commit()
    # The same form posted twice (its version is now stale): nothing more, no error.
    assert takeover.take_over(db, ruta, reviewer=second, expected_version=version,
                              reason=REASON) is None
    assert takeovers(db, ruta.id) == 1 and len(mails(db, "revision_tomada")) == 1


@pytest.mark.parametrize("reason", ["", "   ", "porque sí"])
def test_take_over_needs_a_reason_of_three_words(db: Session, make: Factory,
                                                  reason: str) -> None:
    ruta, _rector, first = in_review(db, make)
    second = make.user(Role.REVISOR)
    with pytest.raises(InvalidInput) as invalid:
        takeover.take_over(db, ruta, reviewer=second, expected_version=ruta.version,
                           reason=reason)
    assert invalid.value.errors == {"motivo": [takeover.REASON_MISSING]}
    assert ruta.reviewer_id == first.id and takeovers(db, ruta.id) == 0


def test_take_over_of_a_changed_ruta_is_stale_and_only_revisores_take(db: Session,
                                                                      make: Factory) -> None:
    ruta, _rector, _first = in_review(db, make)
    second = make.user(Role.REVISOR)
    with pytest.raises(StaleRuta):
        takeover.take_over(db, ruta, reviewer=second, expected_version=ruta.version - 1,
                           reason=REASON)
    with pytest.raises(Forbidden):
        takeover.take_over(db, ruta, reviewer=make.user(Role.ADMINISTRADOR),
                           expected_version=ruta.version, reason=REASON)
    assert takeovers(db, ruta.id) == 0


@pytest.mark.postgres
def test_two_take_overs_at_once_one_wins(backend: str, app: Flask, db: Session,
                                         make: Factory) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    ruta, _rector, first = in_review(db, make)
    second, third = make.user(Role.REVISOR), make.user(Role.REVISOR)
    db.commit()
    factory = app.extensions["ruta_db"].session_factory
    loaded = threading.Barrier(2)

    def take_as(reviewer_id: int) -> str:
        with factory() as session:
            mine = session.get(Ruta, ruta.id)
            reviewer = session.get(User, reviewer_id)
            version = mine.version
            loaded.wait()
            takeover.take_over(session, mine, reviewer=reviewer, expected_version=version,
                               reason=REASON)
            session.commit()
            return "tomada"

    results = run_together(lambda: take_as(second.id), lambda: take_as(third.id))
    assert sorted(type(result).__name__ for result in results) == ["StaleRuta", "str"]
    db.expire_all()
    assert takeovers(db, ruta.id) == 1
    assert db.get(Ruta, ruta.id).reviewer_id in (second.id, third.id)
    assert len(mails(db, "revision_tomada")) == 1


def test_the_rutas_reviewer_holds_its_reports(db: Session, make: Factory) -> None:
    plan = build_plan(make)
    other = make.user(Role.REVISOR, secretaria=plan.ruta.school.secretaria)
    plan.ruta.reviewer_id = plan.revisor.id
    db.commit()
    report = sent(db, plan)
    assert not seguimiento.may_review(other, report)
    with pytest.raises(Forbidden, match="en manos de"):
        seguimiento.acknowledge(db, report, reviewer=other, expected_version=report.version)
    db.rollback()
    seguimiento.acknowledge(db, report, reviewer=plan.revisor, expected_version=report.version)
    assert report.acknowledged_by_id == plan.revisor.id


def test_closing_is_refused_while_a_report_is_pending(db: Session, make: Factory) -> None:
    plan = build_plan(make)
    report = sent(db, plan, now=bogota(date(2024, 6, 27)))
    with pytest.raises(GuardFailed) as refused:
        cierre_actions.close(db, plan.ruta, reviewer=plan.revisor,
                             expected_version=plan.ruta.version)
    assert refused.value.message == cierre_actions.PENDING_MESSAGE
    assert refused.value.reasons == [
        f"El informe «{report.checkpoint.name}» fue enviado y la Secretaría no lo ha "
        "reconocido ni devuelto."]
    assert plan.ruta.state is State.SEGUIMIENTO


def test_closing_is_refused_while_an_observation_is_open(db: Session, make: Factory) -> None:
    plan = build_plan(make)
    report = sent(db, plan, now=bogota(date(2024, 6, 27)))
    observation = seguimiento.add_observation(
        db, report, reviewer=plan.revisor, element=f"actividad:{plan.first.id}",
        text="Adjunte las actas de los talleres.")
    seguimiento.return_report(db, report, reviewer=plan.revisor,
                              expected_version=report.version)
    db.commit()
    with pytest.raises(GuardFailed) as refused:
        cierre_actions.close(db, plan.ruta, reviewer=plan.revisor,
                             expected_version=plan.ruta.version)
    assert refused.value.reasons == [
        f"La observación «{observation.element_label}» del informe «{report.checkpoint.name}» "
        "sigue sin resolver (enviada, sin respuesta)."]
    assert plan.ruta.state is State.SEGUIMIENTO
