"""The reminder rules, evaluated day by day on the 2024 calendar of Ibagué.

The calendar: first semana institucional of 2024 ends Friday 2024-01-19, PMI deadline
2024-02-16, lead times 7 (PMI), 10 (returned), 5 (review), 7 (before a checkpoint) and 3
(grace after it), checkpoint "Seguimiento 1er semestre 2024" on 2024-06-28. Unless a test says
otherwise, its Rutas were opened and its people activated their accounts when the horizon
opened (2023-10-02): nobody joined late.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from demo.calendario import seed_demo_calendar
from tests.conftest import Factory, WebClient
from workflow.correo import reminder_pass
from workflow.correo.reminder_pass import QueuedReminder, evaluate_reminders
from workflow.correo.reminders import (
    has_follow_up_report,
    iso_week,
    reminders_for,
    week_label,
)
from workflow.dates import BOGOTA
from workflow.horizontes.models import (
    FollowUpCheckpoint,
    HorizonCalendar,
    ReminderRule,
    ReminderSent,
)
from workflow.models import OutboxMessage, Ruta, RutaTransition, User
from workflow.roles import Role
from workflow.seguimiento.models import FollowUpReport, ReportStatus
from workflow.states import State


def morning(day: date) -> datetime:
    """06:00 in Bogotá on ``day``, as the scheduler's pass would run."""
    return datetime.combine(day, time(6, 0), tzinfo=BOGOTA).astimezone(UTC)


def run(db: Session, day: date) -> list[QueuedReminder]:
    queued = evaluate_reminders(db, today=day, now=morning(day))
    db.commit()
    return queued


def summary(queued: list[QueuedReminder]) -> list[tuple[int, str, str, list[str], list[str]]]:
    return [(item.ruta_id, item.rule.value, item.occurrence_key, item.to, item.cc)
            for item in queued]


@pytest.fixture
def calendar(db: Session, make: Factory) -> HorizonCalendar:
    found = seed_demo_calendar(db, make.secretaria())
    db.commit()
    return found


HORIZON_OPENED = datetime(2023, 10, 2, 15, 0, tzinfo=UTC)


def on_time(ruta: Ruta | None, *people: User) -> None:
    """The Ruta opened, and the people activated their accounts, when the horizon opened."""
    if ruta is not None:
        ruta.created_at = HORIZON_OPENED
    for person in people:
        person.activated_at = HORIZON_OPENED


def reviewer(make: Factory, *, active: bool = True) -> User:
    """A revisor who activated the account when the horizon opened."""
    person = make.user(Role.REVISOR, active=active)
    on_time(None, person)
    make.db.flush()
    return person


def school_ruta(make: Factory, state: State, *, changed: datetime | None = None,
                rector: bool = True) -> tuple[Ruta, User | None]:
    ruta = make.ruta(state=state)
    if changed is not None:
        ruta.state_changed_at = changed
    person = make.user(Role.RECTOR, school=ruta.school) if rector else None
    on_time(ruta, *([person] if person else []))
    make.db.flush()
    return ruta, person


def log(db: Session, ruta: Ruta, trigger: str, from_state: State, to_state: State,
        at: datetime, observations: str | None = None) -> RutaTransition:
    entry = RutaTransition(ruta=ruta, trigger=trigger, from_state=from_state, to_state=to_state,
                           at=at, observations=observations, extra={})
    db.add(entry)
    db.flush()
    return entry


def test_demo_calendar_has_the_2024_dates_of_the_circular(calendar: HorizonCalendar) -> None:
    assert calendar.first_week_end(2024) == date(2024, 1, 19)
    assert calendar.pmi_deadline == date(2024, 2, 16)
    assert calendar.checkpoints[0].name == "Seguimiento 1er semestre 2024"
    assert calendar.checkpoints[0].due_on == date(2024, 6, 28)


def test_pmi_pending_nothing_before_the_first_semana_institucional_ends(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    school_ruta(make, State.BORRADOR)
    db.commit()
    for day in (date(2024, 1, 2), date(2024, 1, 15), date(2024, 1, 19)):
        assert run(db, day) == []
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_pmi_pending_on_the_first_day_after_the_semana_institucional_not_a_day_later(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    """The week ends Friday 2024-01-19: the reminder is due Saturday the 20th. Passes on
    working days only (the 22nd) would hide a rule one day late; this one does not."""
    ruta, rector = school_ruta(make, State.BORRADOR)
    db.commit()
    assert rector is not None
    assert run(db, date(2024, 1, 19)) == []
    assert summary(run(db, date(2024, 1, 20))) == [
        (ruta.id, "pmi_pendiente", "horizonte-2024", [rector.email], [])]
    assert run(db, date(2024, 1, 21)) == []


def test_pmi_pending_on_january_22_each_owed_ruta_gets_exactly_one(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    draft, draft_rector = school_ruta(make, State.BORRADOR)
    sent, sent_rector = school_ruta(make, State.AUTOEVALUACION_ENVIADA)
    school_ruta(make, State.PMI_FORMULADO,
                changed=datetime(2024, 1, 20, 15, 0, tzinfo=UTC))
    school_ruta(make, State.APROBADO)
    db.commit()
    assert draft_rector is not None and sent_rector is not None

    queued = run(db, date(2024, 1, 22))

    assert summary(queued) == [
        (draft.id, "pmi_pendiente", "horizonte-2024", [draft_rector.email], []),
        (sent.id, "pmi_pendiente", "horizonte-2024", [sent_rector.email], []),
    ]
    messages = db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(message.kind, message.recipients, message.cc, message.ruta_id)
            for message in messages] == [
        ("recordatorio_pmi_pendiente", [draft_rector.email], [], draft.id),
        ("recordatorio_pmi_pendiente", [sent_rector.email], [], sent.id),
    ]
    assert messages[0].subject == (f"Recordatorio: el PMI de {draft.school.name} vence el "
                                   "16 de febrero de 2024")
    assert "debe reportarse a más tardar el 16 de febrero de 2024." in messages[0].text_body
    assert f"/rutas/{draft.id}" in messages[0].text_body
    assert messages[0].dedupe_key == f"recordatorio:{draft.id}:pmi_pendiente:horizonte-2024"
    rows = db.scalars(select(ReminderSent).order_by(ReminderSent.id)).all()
    assert [(row.ruta_id, row.rule, row.occurrence_key, row.day) for row in rows] == [
        (draft.id, "pmi_pendiente", "horizonte-2024", date(2024, 1, 22)),
        (sent.id, "pmi_pendiente", "horizonte-2024", date(2024, 1, 22)),
    ]


def test_pmi_pending_same_day_twice_and_the_next_days_queue_nothing_new(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    school_ruta(make, State.BORRADOR)
    db.commit()
    assert len(run(db, date(2024, 1, 22))) == 1
    assert run(db, date(2024, 1, 22)) == []
    assert run(db, date(2024, 1, 23)) == []
    assert run(db, date(2024, 2, 8)) == []
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert db.scalar(select(func.count()).select_from(ReminderSent)) == 1


def test_pmi_pending_missed_days_are_caught_up_by_the_next_pass(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    ruta, _ = school_ruta(make, State.BORRADOR)
    db.commit()
    # The scheduler was down from the 20th to the 30th: the 31st still says it.
    assert [(item.ruta_id, item.rule.value) for item in run(db, date(2024, 1, 31))] == [
        (ruta.id, "pmi_pendiente")]


def test_pmi_near_seven_days_before_the_deadline_once(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    ruta, rector = school_ruta(make, State.AUTOEVALUACION_ENVIADA)
    db.commit()
    assert rector is not None
    run(db, date(2024, 1, 22))
    assert run(db, date(2024, 2, 8)) == []

    queued = run(db, date(2024, 2, 9))

    assert summary(queued) == [
        (ruta.id, "pmi_proximo", "horizonte-2024", [rector.email], [])]
    assert queued[0].summary == "El plazo del PMI vence el 16 de febrero de 2024: faltan 7 días."
    message = db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "recordatorio_pmi_proximo")).one()
    assert message.subject == (f"El plazo del PMI de {ruta.school.name} vence el 16 de "
                               "febrero de 2024: faltan 7 días")
    assert run(db, date(2024, 2, 9)) == []
    assert run(db, date(2024, 2, 16)) == []


def test_pmi_near_follows_the_lead_time_the_administrator_chose(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    ruta, _ = school_ruta(make, State.BORRADOR)
    calendar.pmi_lead_days = 3
    db.commit()
    assert [item.rule.value for item in run(db, date(2024, 2, 12))] == ["pmi_pendiente"]
    assert [(item.ruta_id, item.rule.value) for item in run(db, date(2024, 2, 13))] == [
        (ruta.id, "pmi_proximo")]


def test_pmi_near_not_sent_to_a_ruta_that_already_sent_its_pmi(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    school_ruta(make, State.PMI_FORMULADO, changed=datetime(2024, 2, 8, 15, 0, tzinfo=UTC))
    school_ruta(make, State.SEGUIMIENTO, changed=datetime(2024, 2, 8, 15, 0, tzinfo=UTC))
    db.commit()
    assert run(db, date(2024, 2, 9)) == []


def test_pmi_overdue_weekly_with_the_reviewer_in_copy(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    first = reviewer(make)
    second = reviewer(make)
    reviewer(make, active=False)
    # Returned once, so it has a reviewer: the copy goes to that reviewer only.
    returned, returned_rector = school_ruta(make, State.AUTOEVALUACION_ENVIADA)
    returned.reviewer = second
    # Never reviewed: the copy goes to every active revisor of the Secretaría.
    draft, draft_rector = school_ruta(make, State.BORRADOR)
    db.commit()
    assert returned_rector is not None and draft_rector is not None

    assert [item.rule.value for item in run(db, date(2024, 2, 16))] == ["pmi_proximo"] * 2

    saturday = run(db, date(2024, 2, 17))
    assert summary(saturday) == [
        (returned.id, "pmi_vencido", "2024-W07", [returned_rector.email], [second.email]),
        (draft.id, "pmi_vencido", "2024-W07", [draft_rector.email],
         [first.email, second.email]),
    ]
    assert saturday[0].summary == ("El plazo del PMI venció el 16 de febrero de 2024 y la Ruta "
                                   "no lo ha enviado (aviso de la semana del 12 al 18 de "
                                   "febrero de 2024).")
    assert run(db, date(2024, 2, 18)) == []  # Sunday: still ISO week 7
    monday = run(db, date(2024, 2, 19))
    assert [(item.ruta_id, item.occurrence_key) for item in monday] == [
        (returned.id, "2024-W08"), (draft.id, "2024-W08")]
    assert run(db, date(2024, 2, 23)) == []
    assert run(db, date(2024, 2, 25)) == []
    assert [item.occurrence_key for item in run(db, date(2024, 2, 26))] == ["2024-W09"] * 2

    message = db.scalars(select(OutboxMessage).where(
        OutboxMessage.ruta_id == draft.id, OutboxMessage.kind == "recordatorio_pmi_vencido")
        .order_by(OutboxMessage.id)).first()
    assert message is not None
    assert (message.recipients, message.cc) == ([draft_rector.email],
                                                [first.email, second.email])
    assert message.subject == (f"PMI vencido: {draft.school.name} no lo ha enviado (plazo 16 "
                               "de febrero de 2024)")
    assert "(semana del 12 al 18 de febrero de 2024)" in message.text_body
    assert "W07" not in message.text_body + message.html_body


def test_iso_week_keys_follow_iso_years() -> None:
    assert iso_week(date(2024, 2, 17)) == "2024-W07"
    assert iso_week(date(2024, 12, 30)) == "2025-W01"


def test_week_labels_are_spanish_date_ranges() -> None:
    assert week_label(date(2024, 2, 17)) == "semana del 12 al 18 de febrero de 2024"
    assert week_label(date(2024, 7, 3)) == "semana del 1 al 7 de julio de 2024"
    assert week_label(date(2024, 1, 31)) == "semana del 29 de enero al 4 de febrero de 2024"
    assert week_label(date(2024, 12, 31)) == ("semana del 30 de diciembre de 2024 al 5 de "
                                              "enero de 2025")


def test_returned_not_resubmitted_after_more_than_n_days(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    assigned = reviewer(make)
    ruta, rector = school_ruta(make, State.AUTOEVALUACION_ENVIADA)
    ruta.reviewer = assigned
    returned = log(db, ruta, "devolver", State.EN_REVISION, State.AUTOEVALUACION_ENVIADA,
                   datetime(2024, 3, 1, 20, 0, tzinfo=UTC),
                   observations="Las metas no tienen unidad de medida.")
    # Returned and already resubmitted: nothing to remind.
    resubmitted, _ = school_ruta(make, State.PMI_FORMULADO,
                                 changed=datetime(2024, 3, 5, 15, 0, tzinfo=UTC))
    log(db, resubmitted, "devolver", State.EN_REVISION, State.AUTOEVALUACION_ENVIADA,
        datetime(2024, 3, 1, 20, 0, tzinfo=UTC), observations="Revise el objetivo 2.")
    log(db, resubmitted, "formular_pmi", State.AUTOEVALUACION_ENVIADA, State.PMI_FORMULADO,
        datetime(2024, 3, 5, 15, 0, tzinfo=UTC))
    db.commit()
    assert rector is not None

    def returned_reminders(day: date) -> list[tuple[int, str, str, list[str], list[str]]]:
        return [row for row in summary(run(db, day)) if row[1] == "devuelta_sin_reenviar"]

    assert returned_reminders(date(2024, 3, 11)) == []  # exactly 10 days: not yet
    assert returned_reminders(date(2024, 3, 12)) == [
        (ruta.id, "devuelta_sin_reenviar", f"devolucion-{returned.id}", [rector.email], [])]
    assert returned_reminders(date(2024, 3, 13)) == []
    message = db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "recordatorio_devuelta_sin_reenviar")).one()
    assert message.subject == (f"Recordatorio: la Ruta de {ruta.school.name} fue devuelta el "
                               "1 de marzo de 2024 y no se ha reenviado")
    assert "Las metas no tienen unidad de medida." in message.text_body
    assert "Las metas no tienen unidad de medida." in message.html_body


def test_reviewers_reminded_of_a_pmi_nobody_took(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    first = reviewer(make)
    second = reviewer(make)
    reviewer(make, active=False)
    ruta, _ = school_ruta(make, State.PMI_FORMULADO,
                          changed=datetime(2024, 2, 1, 15, 0, tzinfo=UTC))
    db.commit()

    assert run(db, date(2024, 2, 6)) == []  # five days: not more than five
    queued = run(db, date(2024, 2, 7))

    assert summary(queued) == [(ruta.id, "revision_pendiente", "pmi_formulado-20240201T150000",
                                [first.email, second.email], [])]
    assert queued[0].summary == ("El PMI espera que un revisor lo tome desde el 1 de febrero "
                                 "de 2024 (6 días).")
    assert run(db, date(2024, 2, 20)) == []
    message = db.scalars(select(OutboxMessage)).one()
    assert message.subject == f"PMI sin revisor hace 6 días: {ruta.school.name}"


def test_reviewers_reminded_the_reviewer_who_took_it(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    taker = reviewer(make)
    reviewer(make)
    ruta, _ = school_ruta(make, State.EN_REVISION,
                          changed=datetime(2024, 2, 1, 15, 0, tzinfo=UTC))
    ruta.reviewer = taker
    db.commit()

    queued = run(db, date(2024, 2, 7))

    assert summary(queued) == [(ruta.id, "revision_pendiente", "en_revision-20240201T150000",
                                [taker.email], [])]
    message = db.scalars(select(OutboxMessage)).one()
    assert message.subject == f"PMI en revisión hace 6 días: {ruta.school.name}"
    assert f"con {taker.name}" in message.text_body


def test_a_reviewer_of_another_secretaria_who_took_it_is_reminded(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    elsewhere = make.secretaria(name="Secretaría de Educación del Tolima", divipola="73")
    taker = make.user(Role.REVISOR, secretaria=elsewhere)
    on_time(None, taker)
    own = reviewer(make)
    ruta, _ = school_ruta(make, State.EN_REVISION,
                          changed=datetime(2024, 2, 1, 15, 0, tzinfo=UTC))
    ruta.reviewer = taker
    db.commit()

    queued = run(db, date(2024, 2, 7))

    assert summary(queued) == [(ruta.id, "revision_pendiente", "en_revision-20240201T150000",
                                [taker.email], [])]
    # Only the Secretaría's own revisores are «all the revisores».
    situation = reminder_pass._situation(db, calendar, date(2024, 2, 7))
    assert [person.id for person in situation.people.reviewers] == [own.id]
    assert situation.rutas[0].reviewer.id == taker.id


def test_a_pass_reads_a_secretarias_people_once_for_all_its_calendars(
        app: Flask, db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    ruta, rector = school_ruta(make, State.BORRADOR)
    db.commit()
    engine = app.extensions["ruta_db"].engine
    read: dict[int, Any] = {}
    sent: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        first = reminder_pass._situation(db, calendar, date(2024, 2, 7), read)
        counted = len(sent)
        second = reminder_pass._situation(db, calendar, date(2024, 2, 7), read)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # The second calendar of the Secretaría does not read its rectors again.
    assert len(sent) - counted == counted - 1
    assert first.people is second.people
    assert second.people.rectors == {ruta.school_id: second.people.rectors[ruta.school_id]}
    assert second.people.rectors[ruta.school_id].email == rector.email


def test_reviewers_reminded_again_after_a_new_wait(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    reviewer(make)
    ruta, _ = school_ruta(make, State.PMI_FORMULADO,
                          changed=datetime(2024, 2, 1, 15, 0, tzinfo=UTC))
    db.commit()
    assert len(run(db, date(2024, 2, 7))) == 1
    # Taken, returned and sent again: a new stay in pmi_formulado is a new occurrence.
    ruta.state_changed_at = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
    db.commit()
    assert run(db, date(2024, 3, 6)) == []
    assert [item.occurrence_key for item in run(db, date(2024, 3, 7))] == [
        "pmi_formulado-20240301T150000"]


def test_checkpoint_reminded_before_it_to_rutas_in_seguimiento(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    ruta, rector = school_ruta(make, State.SEGUIMIENTO,
                               changed=datetime(2024, 4, 1, 15, 0, tzinfo=UTC))
    school_ruta(make, State.APROBADO, changed=datetime(2024, 4, 1, 15, 0, tzinfo=UTC))
    db.commit()
    assert rector is not None
    checkpoint = calendar.checkpoints[0]

    assert run(db, date(2024, 6, 20)) == []
    queued = run(db, date(2024, 6, 21))

    assert summary(queued) == [
        (ruta.id, "corte_proximo", f"corte-{checkpoint.id}", [rector.email], [])]
    assert queued[0].summary == ("Se acerca el corte «Seguimiento 1er semestre 2024» del 28 de "
                                 "junio de 2024: informe el avance del plan.")
    assert run(db, date(2024, 6, 28)) == []
    message = db.scalars(select(OutboxMessage)).one()
    assert message.subject == ("Se acerca el corte «Seguimiento 1er semestre 2024» (28 de junio "
                               f"de 2024): {ruta.school.name}")


def test_checkpoint_reminded_after_it_while_the_report_is_missing(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    ruta, rector = school_ruta(make, State.SEGUIMIENTO,
                               changed=datetime(2024, 4, 1, 15, 0, tzinfo=UTC))
    # Entered seguimiento after the checkpoint: it owed no report for it.
    school_ruta(make, State.SEGUIMIENTO, changed=datetime(2024, 6, 29, 15, 0, tzinfo=UTC))
    db.commit()
    assert rector is not None
    checkpoint = calendar.checkpoints[0]
    assert has_follow_up_report(db, ruta, checkpoint) is False

    assert run(db, date(2024, 6, 30)) == []  # two days after: within the grace of three
    queued = run(db, date(2024, 7, 1))

    assert summary(queued) == [
        (ruta.id, "corte_vencido", f"corte-{checkpoint.id}", [rector.email], [])]
    assert run(db, date(2024, 7, 2)) == []
    message = db.scalars(select(OutboxMessage)).one()
    assert message.subject == ("Falta el informe de seguimiento «Seguimiento 1er semestre "
                               f"2024»: {ruta.school.name}")


@pytest.mark.parametrize("status", list(ReportStatus))
def test_checkpoint_reminders_skip_rutas_that_sent_their_report(
        db: Session, make: Factory, calendar: HorizonCalendar, status: ReportStatus) -> None:
    changed = datetime(2024, 4, 1, 15, 0, tzinfo=UTC)
    ruta, rector = school_ruta(make, State.SEGUIMIENTO, changed=changed)
    other, other_rector = school_ruta(make, State.SEGUIMIENTO, changed=changed)
    assert rector is not None and other_rector is not None
    checkpoint = calendar.checkpoints[0]
    sent = status is not ReportStatus.BORRADOR  # a draft is not a report yet
    db.add(FollowUpReport(ruta_id=ruta.id, checkpoint_id=checkpoint.id, status=status,
                          submitted_at=datetime(2024, 6, 20, 15, 0, tzinfo=UTC)
                          if sent else None, submissions=1 if sent else 0))
    db.commit()
    assert has_follow_up_report(db, ruta, checkpoint) is sent
    assert has_follow_up_report(db, other, checkpoint) is False

    before = run(db, date(2024, 6, 21))
    after = run(db, date(2024, 7, 1))

    reminded = {other.id} | (set() if sent else {ruta.id})
    assert {item.ruta_id for item in before} == reminded
    assert {item.ruta_id for item in after} == reminded
    assert {item.rule.value for item in before + after} == {"corte_proximo", "corte_vencido"}


def test_checkpoint_missed_only_the_latest_one_when_the_scheduler_starts_late(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    school_ruta(make, State.SEGUIMIENTO, changed=datetime(2024, 4, 1, 15, 0, tzinfo=UTC))
    db.commit()
    second = calendar.checkpoints[1]  # Seguimiento 2.º semestre 2024, 2024-11-29
    queued = run(db, date(2025, 1, 10))
    assert [(item.rule.value, item.occurrence_key) for item in queued] == [
        ("corte_vencido", f"corte-{second.id}")]


def test_reminder_without_an_activated_rector_waits_for_the_activation(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    make.user(Role.REVISOR)  # never activated: no copy ever goes to this account
    ruta, _ = school_ruta(make, State.BORRADOR, rector=False)
    db.commit()
    assert run(db, date(2024, 1, 22)) == []
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    assert run(db, date(2024, 1, 23)) == []  # the account exists but was never activated
    assert run(db, date(2024, 2, 19)) == []  # past the deadline: nobody to write to yet
    assert db.scalar(select(func.count()).select_from(ReminderSent)) == 0

    # Activated on 2024-01-23, less than 30 days before the deadline: the school gets 30 days
    # from its activation, not a notice that a deadline it could not meet has passed.
    rector.activated_at = datetime(2024, 1, 23, 20, 0, tzinfo=UTC)
    db.commit()
    queued = run(db, date(2024, 1, 24))
    assert summary(queued) == [
        (ruta.id, "pmi_pendiente", "horizonte-2024", [rector.email], [])]
    assert queued[0].summary == ("El PMI debe reportarse a la Secretaría a más tardar el 22 de "
                                 "febrero de 2024.")
    assert [item.summary for item in run(db, date(2024, 2, 17))] == [
        "El plazo del PMI vence el 22 de febrero de 2024: faltan 5 días."]
    assert run(db, date(2024, 2, 22)) == []
    assert [item.rule.value for item in run(db, date(2024, 2, 23))] == ["pmi_vencido"]


def test_rutas_of_another_horizon_or_an_inactive_school_get_nothing(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    later = make.ruta(state=State.BORRADOR)
    later.horizon_start_year, later.horizon_end_year = 2027, 2029
    make.user(Role.RECTOR, school=later.school)
    closed, _ = school_ruta(make, State.BORRADOR)
    closed.school.active = False
    db.commit()
    assert run(db, date(2024, 1, 22)) == []


def test_reminders_sent_refuses_a_second_row_for_the_same_occurrence(
        db: Session, make: Factory) -> None:
    ruta = make.ruta()
    row = {"ruta_id": ruta.id, "rule": "pmi_pendiente", "occurrence_key": "horizonte-2024",
           "day": date(2024, 1, 22), "summary": "x", "recipients": "a@b.co"}
    db.add(ReminderSent(**row))
    db.commit()
    db.add(ReminderSent(**row))
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()


def test_reminders_sent_refuses_an_unknown_rule(db: Session, make: Factory) -> None:
    db.add(ReminderSent(ruta_id=make.ruta().id, rule="inventada", occurrence_key="x",
                        day=date(2024, 1, 22), summary="x", recipients="a@b.co"))
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()


def test_reminder_and_outbox_row_roll_back_together(
        db: Session, make: Factory, calendar: HorizonCalendar) -> None:
    school_ruta(make, State.BORRADOR)
    db.commit()
    evaluate_reminders(db, today=date(2024, 1, 22), now=morning(date(2024, 1, 22)))
    db.rollback()
    assert db.scalar(select(func.count()).select_from(ReminderSent)) == 0
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert len(run(db, date(2024, 1, 22))) == 1


def test_reminders_show_on_the_rutas_history(
        db: Session, make: Factory, calendar: HorizonCalendar, web: WebClient) -> None:
    ruta, rector = school_ruta(make, State.BORRADOR)
    db.commit()
    assert rector is not None
    page = web.login(rector.email) and web.get(f"/rutas/{ruta.id}").get_data(as_text=True)
    assert "Recordatorios enviados" in page
    assert "Todavía no se ha enviado ningún recordatorio para esta Ruta." in page

    run(db, date(2024, 1, 22))

    page = web.get(f"/rutas/{ruta.id}").get_data(as_text=True)
    assert "PMI pendiente de reporte" in page
    assert ("El PMI debe reportarse a la Secretaría a más tardar el 16 de febrero de 2024."
            in page)
    assert f"Para: {rector.email}" in page
    assert [row.rule for row in reminders_for(db, ruta)] == [ReminderRule.PMI_PENDIENTE.value]


# --- concurrency (PostgreSQL) ---------------------------------------------------------------


def run_together(*actions: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def runner(index: int, action: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = action()
        except Exception as error:  # reported as the result, and asserted on
            results[index] = error

    threads = [threading.Thread(target=runner, args=(index, action))
               for index, action in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.postgres
def test_two_concurrent_passes_queue_one_set_of_reminders(
        backend: str, app: Flask, db: Session, make: Factory,
        calendar: HorizonCalendar) -> None:
    if backend != "postgresql":
        pytest.skip("a race needs PostgreSQL: SQLite serializes every writer")
    rutas = [school_ruta(make, State.BORRADOR)[0] for _ in range(6)]
    db.commit()
    factory = app.extensions["ruta_db"].session_factory
    ready = threading.Barrier(2)

    def one_pass() -> int:
        with factory() as session:
            session.get(HorizonCalendar, calendar.id)  # both have read before either writes
            ready.wait()
            queued = evaluate_reminders(session, today=date(2024, 1, 22),
                                        now=morning(date(2024, 1, 22)))
            session.commit()
            return len(queued)

    results = run_together(one_pass, one_pass)

    assert all(isinstance(result, int) for result in results), results
    assert sum(results) == len(rutas)
    assert db.scalar(select(func.count()).select_from(ReminderSent)) == len(rutas)
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == len(rutas)
    assert sorted(db.scalars(select(ReminderSent.ruta_id))) == [ruta.id for ruta in rutas]


def test_checkpoints_ids_are_not_reused_after_a_delete(
        db: Session, calendar: HorizonCalendar) -> None:
    last = calendar.checkpoints[-1]
    last_id = last.id
    calendar.checkpoints.remove(last)
    db.commit()
    fresh = FollowUpCheckpoint(name="Seguimiento extraordinario 2026",
                               due_on=date(2026, 12, 4))
    calendar.checkpoints.append(fresh)
    db.commit()
    assert fresh.id > last_id
