"""The daily pass over the reminder rules of ``workflow.correo.reminders``.

The pass records every reminder in ``reminders_sent`` (UNIQUE (ruta_id, rule,
occurrence_key)) with ``INSERT … ON CONFLICT DO NOTHING`` and queues its outbox row in the
same transaction, so a reminder is queued at most once whatever happens: a second pass the
same day, two schedulers at once, a crash between the two inserts (the transaction rolls
both back). The pass flushes and never commits; the job commits once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import Select, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from workflow import outbox
from workflow.correo.reminders import (
    PMI_OWED,
    RULES,
    DueReminder,
    Recipients,
    RutaRow,
    SchoolRow,
    Situation,
)
from workflow.horizontes.models import HorizonCalendar, JobRun, ReminderRule, ReminderSent
from workflow.models import Ruta, RutaTransition, School, User, utcnow
from workflow.plain_rows import plain_rows
from workflow.roles import Role
from workflow.states import State

DAILY_JOB: Final = "recordatorios"


@dataclass(frozen=True)
class QueuedReminder:
    """A reminder this pass recorded and queued."""

    ruta_id: int
    school_name: str
    rule: ReminderRule
    occurrence_key: str
    to: list[str]
    cc: list[str]
    summary: str


# What a pass reads of a user (a ``Row`` with these attributes stands for the ``User``) and
# of a log entry (for the ``RutaTransition``).
PERSON_COLUMNS: Final = (User.id, User.secretaria_id, User.school_id, User.email, User.name,
                         User.role, User.active, User.activated_at)
ENTRY_COLUMNS: Final = (RutaTransition.id, RutaTransition.ruta_id, RutaTransition.trigger,
                        RutaTransition.from_state, RutaTransition.to_state,
                        RutaTransition.actor_id, RutaTransition.at,
                        RutaTransition.observations, RutaTransition.extra)


# The people of a Secretaría as a pass reads them (``_people``): who it writes to, and every
# person read, active or not, by id (the reviewers of its Rutas among them).
People = tuple[Recipients, dict[int, Any]]


def _add_people(people: Recipients, known: dict[int, Any], rows: Iterable[Any],
                secretaria_id: int) -> None:
    for user in rows:
        known[user.id] = user
        if not user.active or user.activated_at is None:
            continue
        if user.role is Role.RECTOR and user.school_id is not None:
            people.rectors[user.school_id] = user
        elif user.role is Role.REVISOR and user.secretaria_id == secretaria_id:
            people.reviewers.append(user)


def _people(session: Session, calendar: HorizonCalendar, reviewer_ids: Select[Any],
            read: dict[int, People]) -> People:
    """The Secretaría's rectors and revisores, and the reviewers of the calendar's Rutas.

    The people and the last log entries are read-only here: plain rows with the same
    attribute names, not ORM objects (a pass reads every rector of the Secretaría, and
    building 10,000 tracked objects cost more than the query), read without the ORM's
    loading (``plain_rows``: nothing is pending before them). The Secretaría's own people
    are read once per pass (``read``), not once per calendar: its two horizons' calendars
    read the same 10,000 rectors. A calendar adds only the reviewers of its Rutas who are
    not among them (in a Recipients of its own in the unlikely case they change it; one
    active rector per school, so the order they come in does not matter).
    """
    secretaria_id = calendar.secretaria_id
    own = and_(User.secretaria_id == secretaria_id, User.role.in_([Role.RECTOR, Role.REVISOR]))
    if secretaria_id not in read:
        people, known = Recipients(), {}
        _add_people(people, known, plain_rows(
            session, select(*PERSON_COLUMNS).where(own).order_by(User.id)), secretaria_id)
        read[secretaria_id] = people, known
    people, known = read[secretaria_id]
    others = plain_rows(session, select(*PERSON_COLUMNS).where(
        User.id.in_(reviewer_ids), ~own).order_by(User.id)).all()
    if not others:
        return people, known
    people = Recipients(rectors=dict(people.rectors), reviewers=list(people.reviewers))
    known = dict(known)
    _add_people(people, known, others, secretaria_id)
    return people, known


def _situation(session: Session, calendar: HorizonCalendar, today: date,
               read: dict[int, People] | None = None) -> Situation:
    in_calendar = (School.secretaria_id == calendar.secretaria_id, School.active,
                   Ruta.horizon_start_year == calendar.horizon_start_year,
                   Ruta.state != State.CERRADO)
    reviewer_ids = (select(Ruta.reviewer_id).join(Ruta.school)
                    .where(*in_calendar, Ruta.reviewer_id.is_not(None)).distinct())
    people, reviewers = _people(session, calendar, reviewer_ids, {} if read is None else read)
    situation = Situation(session=session, calendar=calendar, rutas=[], today=today,
                          people=people, last_entries={})
    schools: dict[int, SchoolRow] = {}
    situation.rutas = [
        RutaRow(id=ruta_id, school_id=school_id, state=state,
                state_changed_at=state_changed_at, created_at=created_at,
                horizon_start_year=start_year, horizon_end_year=end_year,
                school=schools.setdefault(school_id, SchoolRow(name, dane_code)),
                reviewer=reviewers.get(reviewer_id) if reviewer_id else None)
        for (ruta_id, school_id, state, state_changed_at, created_at, start_year, end_year,
             reviewer_id, name, dane_code) in plain_rows(session,
            select(Ruta.id, Ruta.school_id, Ruta.state, Ruta.state_changed_at,
                   Ruta.created_at, Ruta.horizon_start_year, Ruta.horizon_end_year,
                   Ruta.reviewer_id,
                   School.name, School.dane_code)
            .join(Ruta.school).where(*in_calendar).order_by(Ruta.id))]
    if not situation.rutas:
        return situation  # a horizon without Rutas yet: nothing else to read
    # The calendar's Rutas as a subquery, not a list of 10,000 ids to bind and parse; only
    # those that still owe their PMI, the only ones whose last entry a rule reads
    # (``pmi_stage``: returned with observations), not every transition of the horizon.
    calendar_rutas = (select(Ruta.id).join(Ruta.school)
                      .where(*in_calendar, Ruta.state.in_(PMI_OWED)))
    last_ids = (select(func.max(RutaTransition.id))
                .where(RutaTransition.ruta_id.in_(calendar_rutas))
                .group_by(RutaTransition.ruta_id))
    situation.last_entries = {entry.ruta_id: entry for entry in plain_rows(
        session, select(*ENTRY_COLUMNS).where(RutaTransition.id.in_(last_ids)))}
    return situation


def _claim_all(session: Session, dues: list[DueReminder], *, today: date,
               now: datetime) -> set[tuple[int, str, str]]:
    """Record the reminders; the (Ruta, rule, occurrence) of those not recorded before.

    INSERT ... ON CONFLICT DO NOTHING RETURNING over all the rows in one statement
    (``outbox.insert_new``): the UNIQUE constraint still decides, so a reminder recorded now
    or by another pass is left out.
    """
    rows = list({(due.ruta.id, due.rule.value, due.occurrence_key): {
        "ruta_id": due.ruta.id, "rule": due.rule.value, "occurrence_key": due.occurrence_key,
        "day": today, "summary": due.summary[:300],
        "recipients": ", ".join(user.email for user in [*due.to, *due.cc]),
        "created_at": now} for due in dues}.values())
    new = outbox.insert_new(session, ReminderSent.__table__,  # type: ignore[arg-type]
                            rows, conflict=["ruta_id", "rule", "occurrence_key"],
                            returning=["ruta_id", "rule", "occurrence_key"])
    return {(ruta_id, rule, key) for ruta_id, rule, key in new}


def dedupe_key(due: DueReminder) -> str:
    return f"recordatorio:{due.ruta.id}:{due.rule.value}:{due.occurrence_key}"


def evaluate_reminders(session: Session, *, today: date,
                       now: datetime | None = None) -> list[QueuedReminder]:
    """Queue every reminder due on ``today`` that was not queued before. Flushes only.

    A reminder without anyone to write to (a school without an active rector who activated
    the account, a Secretaría without revisores) is not recorded, so it goes out once someone
    is there to read it. A horizon whose last year ended before ``today`` sends nothing.
    """
    now = now or utcnow()
    queued: list[QueuedReminder] = []
    calendars = session.scalars(select(HorizonCalendar).where(
        HorizonCalendar.horizon_end_year >= today.year).order_by(HorizonCalendar.id)
        .options(selectinload(HorizonCalendar.weeks),
                 selectinload(HorizonCalendar.checkpoints))).all()
    read: dict[int, People] = {}
    for calendar in calendars:
        situation = _situation(session, calendar, today, read)
        if not situation.rutas:
            continue
        # Every rule first, then two batched inserts: one row at a time cost 1.5 ms each.
        dues = [(spec, due) for spec in RULES for due in spec.find(situation) if due.to]
        claimed = _claim_all(session, [due for _, due in dues], today=today, now=now)
        emails = []
        for spec, due in dues:
            key = (due.ruta.id, due.rule.value, due.occurrence_key)
            if key not in claimed:
                continue
            claimed.discard(key)  # the same reminder found twice is queued once
            to = [user.email for user in due.to]
            cc = [user.email for user in due.cc if user.email not in to]
            emails.append(outbox.Email(
                kind=spec.kind, to=to, cc=cc, context={**due.context, "summary": due.summary},
                dedupe_key=dedupe_key(due), secretaria_id=calendar.secretaria_id,
                ruta_id=due.ruta.id))
            queued.append(QueuedReminder(
                ruta_id=due.ruta.id, school_name=due.ruta.school.name, rule=due.rule,
                occurrence_key=due.occurrence_key, to=to, cc=cc, summary=due.summary))
        outbox.enqueue_many(session, emails, now=now)
    session.flush()
    return queued


def claim_job_run(session: Session, *, job: str, day: date, now: datetime) -> JobRun | None:
    """Mark ``job`` as run for ``day``; None when it already ran (or is running elsewhere).

    On PostgreSQL a concurrent claim waits for the first transaction and then sees its row.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    statement = (insert(JobRun).values(job=job, day=day, started_at=now, queued=0)
                 .on_conflict_do_nothing(index_elements=["job", "day"])
                 .returning(JobRun.id))
    run_id = session.execute(statement).scalar_one_or_none()
    return None if run_id is None else session.get(JobRun, run_id)


def has_run(session: Session, *, job: str, day: date) -> bool:
    return session.scalar(select(JobRun.id).where(JobRun.job == job, JobRun.day == day)) \
        is not None
