"""Reminders that end (issue 13): not after the horizon, not for a closed Ruta, one PMI reason
at a time, a late joiner's own deadline, nobody who has not activated the account.

The calendar is the demo's 2024–2026 one (see ``test_reminders``): first semana institucional
ends 2024-01-19, PMI deadline 2024-02-16, grace for late joiners 30 days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from demo.calendario import seed_demo_calendar
from tests.conftest import Factory
from tests.correo.test_reminders import (
    log,
    reviewer,
    run,
    school_ruta,
    summary,
)
from workflow.correo.reminder_pass import QueuedReminder
from workflow.horizontes.models import HorizonCalendar, ReminderSent
from workflow.models import OutboxMessage
from workflow.roles import Role
from workflow.states import State


@pytest.fixture
def calendar(db: Session, make: Factory) -> HorizonCalendar:
    found = seed_demo_calendar(db, make.secretaria())
    db.commit()
    return found


def test_no_reminder_after_the_horizons_last_year(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    revisor = reviewer(make)
    owed, rector = school_ruta(make, State.BORRADOR)
    waiting, _ = school_ruta(make, State.PMI_FORMULADO,
                             changed=datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    db.commit()
    assert rector is not None

    # Monday of the horizon's last ISO week: still inside 2026.
    assert summary(run(db, date(2026, 12, 28))) == [
        (owed.id, "pmi_vencido", "2026-W53", [rector.email], [revisor.email]),
        (waiting.id, "revision_pendiente", "pmi_formulado-20261201T150000",
         [revisor.email], []),
    ]
    assert run(db, date(2026, 12, 31)) == []
    # The issue saw «PMI vencido» on 2027-03-01, two months after the horizon ended.
    for day in (date(2027, 1, 1), date(2027, 1, 4), date(2027, 3, 1), date(2028, 2, 7)):
        assert run(db, day) == []
    assert db.scalar(select(func.max(ReminderSent.day))) == date(2026, 12, 28)


def test_no_reminder_for_a_closed_ruta(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    reviewer(make)
    school_ruta(make, State.CERRADO, changed=datetime(2024, 4, 1, 15, 0, tzinfo=UTC))
    db.commit()
    for day in (date(2024, 1, 22), date(2024, 2, 9), date(2024, 2, 19), date(2024, 6, 21),
                date(2024, 7, 1)):
        assert run(db, day) == []


def test_a_returned_ruta_gets_devuelta_never_vencido(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    first = reviewer(make)
    ruta, rector = school_ruta(make, State.AUTOEVALUACION_ENVIADA)
    ruta.reviewer = first
    returned = log(db, ruta, "devolver", State.EN_REVISION, State.AUTOEVALUACION_ENVIADA,
                   datetime(2024, 2, 10, 20, 0, tzinfo=UTC), observations="Revise las metas.")
    db.commit()
    assert rector is not None

    # Past the deadline (2024-02-16) and within the ten days after the return: nothing.
    for day in (date(2024, 2, 12), date(2024, 2, 16), date(2024, 2, 17), date(2024, 2, 20)):
        assert run(db, day) == []
    # The issue: «PMI vencido… no lo ha enviado» and «Ruta devuelta» the same day. Only one.
    assert summary(run(db, date(2024, 2, 21))) == [
        (ruta.id, "devuelta_sin_reenviar", f"devolucion-{returned.id}", [rector.email], [])]
    for day in (date(2024, 2, 26), date(2024, 3, 4), date(2024, 6, 3)):
        assert run(db, day) == []
    assert db.scalars(select(OutboxMessage.kind)).all() == [
        "recordatorio_devuelta_sin_reenviar"]


def test_a_ruta_resent_after_a_return_is_back_to_its_deadline_reminders(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    reviewer(make)
    ruta, _ = school_ruta(make, State.AUTOEVALUACION_ENVIADA)
    log(db, ruta, "devolver", State.EN_REVISION, State.BORRADOR,
        datetime(2024, 1, 5, 20, 0, tzinfo=UTC), observations="Revise la autoevaluación.")
    # The autoevaluación sent again: the last transition is no longer the return.
    log(db, ruta, "enviar_autoevaluacion", State.BORRADOR, State.AUTOEVALUACION_ENVIADA,
        datetime(2024, 1, 8, 20, 0, tzinfo=UTC))
    db.commit()
    assert [item.rule.value for item in run(db, date(2024, 2, 19))] == ["pmi_vencido"]


def test_a_school_imported_mid_horizon_gets_its_own_deadline(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    revisor = reviewer(make)
    ruta = make.ruta(state=State.BORRADOR)
    ruta.created_at = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # imported 2026-11-20
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()

    # The issue: «PMI vencido hace 1024 días» to a rector who had not even activated.
    assert run(db, date(2026, 11, 23)) == []
    rector.activated_at = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    db.commit()

    # 30 days from the activation: 2026-12-24. Pending, near from the 17th, overdue after.
    pending = run(db, date(2026, 11, 25))
    assert summary(pending) == [(ruta.id, "pmi_pendiente", "horizonte-2024", [rector.email],
                                 [])]
    assert pending[0].summary == ("El PMI debe reportarse a la Secretaría a más tardar el 24 "
                                  "de diciembre de 2026.")
    assert run(db, date(2026, 12, 16)) == []
    assert [item.summary for item in run(db, date(2026, 12, 17))] == [
        "El plazo del PMI vence el 24 de diciembre de 2026: faltan 7 días."]
    assert run(db, date(2026, 12, 24)) == []
    overdue = run(db, date(2026, 12, 25))
    assert summary(overdue) == [(ruta.id, "pmi_vencido", "2026-W52", [rector.email],
                                 [revisor.email])]
    message = db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "recordatorio_pmi_vencido")).one()
    assert "venció el 24 de diciembre de 2026 (hace 1 día)" in " ".join(
        message.text_body.split())
    assert [item.occurrence_key for item in run(db, date(2026, 12, 28))] == ["2026-W53"]
    assert run(db, date(2027, 1, 4)) == []


def test_no_copy_to_reviewers_who_never_activated_their_account(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    activated = reviewer(make)
    make.user(Role.REVISOR)  # active, never activated
    ruta, rector = school_ruta(make, State.BORRADOR)
    taken, _ = school_ruta(make, State.PMI_FORMULADO,
                           changed=datetime(2024, 2, 1, 15, 0, tzinfo=UTC))
    db.commit()
    assert rector is not None
    assert summary(run(db, date(2024, 2, 19))) == [
        (ruta.id, "pmi_vencido", "2024-W08", [rector.email], [activated.email]),
        (taken.id, "revision_pendiente", "pmi_formulado-20240201T150000",
         [activated.email], []),
    ]


def test_no_pmi_reminder_while_the_deadline_is_not_entered(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    calendar.self_assessment_closes = None
    calendar.pmi_deadline = None
    school_ruta(make, State.BORRADOR)
    db.commit()
    for day in (date(2024, 1, 22), date(2024, 2, 19), date(2024, 5, 6)):
        assert run(db, day) == []


def new_year(queued: list[QueuedReminder]) -> list[QueuedReminder]:
    """Only the «nuevo año» reminders (the checkpoints' own go on meanwhile)."""
    return [item for item in queued if item.rule.value == "seguimiento_anual"]


def test_a_new_year_of_seguimiento_after_that_years_semana_institucional(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    ruta, rector = school_ruta(make, State.SEGUIMIENTO,
                               changed=datetime(2024, 4, 1, 15, 0, tzinfo=UTC))
    # Entered seguimiento after 2025's semana institucional: no «new year» for 2025.
    late, _ = school_ruta(make, State.SEGUIMIENTO,
                          changed=datetime(2025, 3, 3, 15, 0, tzinfo=UTC))
    db.commit()
    assert rector is not None

    assert new_year(run(db, date(2025, 1, 17))) == []  # the week ends on Friday the 17th
    queued = new_year(run(db, date(2025, 1, 18)))
    assert summary(queued) == [
        (ruta.id, "seguimiento_anual", "anio-2025", [rector.email], [])]
    assert queued[0].summary == (
        "Comienza el seguimiento de 2025. Los cortes de 2025 son: «Seguimiento 1er semestre "
        "2025», el 27 de junio de 2025; «Seguimiento 2.º semestre 2025», el 28 de noviembre "
        "de 2025.")
    assert new_year(run(db, date(2025, 1, 20))) == []
    message = db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "recordatorio_seguimiento_anual")).one()
    assert message.subject == f"Comienza el seguimiento de 2025: {ruta.school.name}"
    assert "primera semana institucional de 2025 (17 de enero de 2025)" in " ".join(
        message.text_body.split())
    assert [(item.ruta_id, item.occurrence_key)
            for item in new_year(run(db, date(2026, 1, 19)))] == [
        (ruta.id, "anio-2026"), (late.id, "anio-2026")]


def test_a_year_without_its_semana_institucional_sends_no_new_year_reminder(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    calendar.weeks.remove(next(week for week in calendar.weeks if week.year == 2025))
    school_ruta(make, State.SEGUIMIENTO, changed=datetime(2024, 4, 1, 15, 0, tzinfo=UTC))
    db.commit()
    for day in (date(2025, 1, 18), date(2025, 3, 3), date(2025, 12, 31)):
        assert new_year(run(db, day)) == []
    assert [item.occurrence_key for item in new_year(run(db, date(2026, 1, 19)))] == [
        "anio-2026"]
