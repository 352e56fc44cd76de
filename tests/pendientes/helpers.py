"""A Secretaría with one item of every kind waiting on it, built directly in the database
(the seguimiento report through the real services), for the «Pendientes» tests.

Times (UTC, at 15:00, 10:00 in Bogotá): the PMI to take was sent 2024-03-01, the report
2024-06-27, the PMI in revision 2024-04-01, its answered observation 2024-05-02, the
adjustment 2025-02-10; the school without rector exists since 2024-01-09 and the school whose
rector never activated the account was invited 2024-08-05.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from tests.conftest import Factory
from tests.seguimiento.test_seguimiento import Plan, bogota, build_plan, form_for
from workflow.ajustes.machine import AdjustmentState
from workflow.ajustes.models import PlanAdjustment
from workflow.models import Ruta, RutaTransition, School, User, Zona
from workflow.observations import ObservationStatus
from workflow.pmi.models import Observation
from workflow.roles import Role
from workflow.seguimiento import reports as seguimiento
from workflow.seguimiento.models import FollowUpReport
from workflow.states import State, Trigger


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 15, 0, tzinfo=UTC)


@dataclass
class Desk:
    plan: Plan  # the Ruta in seguimiento, held by ``revisor``
    revisor: User
    other_revisor: User
    admin: User
    report: FollowUpReport
    to_take: Ruta  # pmi_formulado, nobody's, rural
    in_review: Ruta  # en_revision, held by ``other_revisor``
    adjustment: PlanAdjustment
    no_rector: School
    invited: School
    invited_rector: User


def build_desk(db: Session, make: Factory) -> Desk:
    plan = build_plan(make)
    secretaria = plan.ruta.school.secretaria
    revisor, other = plan.revisor, make.user(Role.REVISOR, secretaria=secretaria)
    admin = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    for user in (revisor, other, admin, plan.rector):
        user.activated_at = at(2024, 1, 2)
    plan.ruta.reviewer_id = revisor.id

    report = seguimiento.open_report(db, plan.ruta, plan.june.id, actor=plan.rector,
                                     today=date(2024, 7, 1))
    seguimiento.save_report(db, report, form_for(plan), actor=plan.equipo,
                            expected_version=report.version)
    seguimiento.submit_report(db, report, actor=plan.rector, expected_version=report.version,
                              now=bogota(date(2024, 6, 27)))

    rural = make.school(secretaria, name="Institución Educativa Rural Juntas", zona=Zona.RURAL)
    make.user(Role.RECTOR, school=rural).activated_at = at(2024, 1, 2)
    to_take = make.ruta(rural, State.PMI_FORMULADO)
    to_take.state_changed_at = at(2024, 3, 1)

    reviewed = make.school(secretaria, name="Institución Educativa San Simón")
    make.user(Role.RECTOR, school=reviewed).activated_at = at(2024, 1, 2)
    in_review = make.ruta(reviewed, State.EN_REVISION)
    in_review.reviewer_id, in_review.state_changed_at = other.id, at(2024, 4, 20)
    db.add_all([
        RutaTransition(ruta_id=in_review.id, trigger=Trigger.FORMULAR_PMI.value,
                       from_state=State.AUTOEVALUACION_ENVIADA, to_state=State.PMI_FORMULADO,
                       actor_id=None, at=at(2024, 4, 1)),
        Observation(ruta_id=in_review.id, element="plan", element_label="El plan en general",
                    criterion=5, text="Precise la socialización.",
                    status=ObservationStatus.RESPONDIDA, author_id=other.id,
                    returned_at=at(2024, 3, 20), response="En la semana institucional.",
                    responded_at=at(2024, 5, 2))])

    adjustment = PlanAdjustment(ruta_id=plan.ruta.id, number=1, state=AdjustmentState.ENVIADO,
                                created_by_id=plan.rector.id, created_at=at(2025, 2, 9),
                                sent_at=at(2025, 2, 10))
    db.add(adjustment)

    no_rector = make.school(secretaria, name="Institución Educativa Nueva Sin Rector")
    no_rector.created_at = at(2024, 1, 9)
    invited = make.school(secretaria, name="Institución Educativa Invitada")
    invited_rector = make.user(Role.RECTOR, school=invited)
    invited_rector.created_at = at(2024, 8, 5)
    invited.created_at = at(2024, 1, 9)
    db.commit()
    return Desk(plan=plan, revisor=revisor, other_revisor=other, admin=admin, report=report,
                to_take=to_take, in_review=in_review, adjustment=adjustment,
                no_rector=no_rector, invited=invited, invited_rector=invited_rector)
