"""The reminder rules and the daily pass that evaluates them (America/Bogota days).

Each rule is data: a stable name, the e-mail template it queues, and a function that says,
for one calendar and one day, which Rutas are due a reminder and under which occurrence key.
The pass records every reminder in ``reminders_sent`` (UNIQUE (ruta_id, rule,
occurrence_key)) with ``INSERT … ON CONFLICT DO NOTHING`` and queues its outbox row in the
same transaction, so a reminder is queued at most once whatever happens: a second pass the
same day, two schedulers at once, a crash between the two inserts (the transaction rolls
both back). The pass flushes and never commits; the job commits once.

Windows, not single days: a rule fires on any day of its window until it has fired, so a
pass missed while the scheduler was down is caught up by the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflow import outbox
from workflow.dates import BOGOTA
from workflow.horizontes.calendar import fecha_corta
from workflow.horizontes.models import (
    FollowUpCheckpoint,
    HorizonCalendar,
    JobRun,
    ReminderRule,
    ReminderSent,
)
from workflow.models import Ruta, RutaTransition, School, User, utcnow
from workflow.roles import Role
from workflow.seguimiento import progress as seguimiento
from workflow.states import State, Trigger

DAILY_JOB: Final = "recordatorios"

# "Not yet at pmi_formulado": the school still owes its PMI.
PMI_OWED: Final = (State.BORRADOR, State.AUTOEVALUACION_ENVIADA)


def bogota_day(moment: datetime) -> date:
    return moment.astimezone(BOGOTA).date()


def iso_week(day: date) -> str:
    """The week's code, as the key that sends a weekly reminder once («2024-W27»); people
    read ``week_label`` instead."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_label(day: date) -> str:
    """The week of ``day`` in words: «semana del 29 de junio al 5 de julio de 2026»."""
    monday = day - timedelta(days=day.weekday())
    sunday = monday + timedelta(days=6)
    start = fecha_corta(monday)
    if monday.year == sunday.year:
        start = start.removesuffix(f" de {monday.year}")
        if monday.month == sunday.month:
            start = str(monday.day)
    return f"semana del {start} al {fecha_corta(sunday)}"


def has_follow_up_report(session: Session, ruta: Ruta, checkpoint: FollowUpCheckpoint) -> bool:
    """Whether ``ruta`` has reported its seguimiento for ``checkpoint``: a report sent at
    least once counts (``workflow.seguimiento.progress.has_report``); a draft does not."""
    return seguimiento.has_report(session, ruta.id, checkpoint.id)


@dataclass(frozen=True, slots=True)
class SchoolRow:
    name: str
    dane_code: str


@dataclass(frozen=True, slots=True)
class RutaRow:
    """What a pass reads of a Ruta, standing for it in the rules: plain and untracked, since
    the pass changes no Ruta (10,000 ORM objects with their schools cost a quarter second)."""

    id: int
    school_id: int
    state: State
    state_changed_at: datetime
    horizon_start_year: int
    horizon_end_year: int
    school: SchoolRow
    reviewer: Any  # a row of PERSON_COLUMNS, or None

    @property
    def horizon_label(self) -> str:
        return f"{self.horizon_start_year}–{self.horizon_end_year}"


@dataclass(frozen=True)
class DueReminder:
    """A reminder a rule says is due today (it may already have been sent)."""

    ruta: RutaRow
    rule: ReminderRule
    occurrence_key: str
    to: Sequence[User]
    summary: str
    context: dict[str, Any]
    cc: Sequence[User] = ()


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


@dataclass
class Recipients:
    """The people of one Secretaría a pass writes to, loaded once per calendar."""

    rectors: dict[int, User] = field(default_factory=dict)  # school id → active rector
    reviewers: list[User] = field(default_factory=list)  # the Secretaría's active revisores

    def rector(self, ruta: RutaRow) -> list[User]:
        found = self.rectors.get(ruta.school_id)
        return [found] if found is not None else []

    def reviewer_or_all(self, ruta: RutaRow) -> list[User]:
        if ruta.reviewer is not None and ruta.reviewer.active:
            return [ruta.reviewer]
        return list(self.reviewers)


@dataclass
class Situation:
    """What a rule may look at: the calendar, its Rutas, the day, the people to write to."""

    session: Session
    calendar: HorizonCalendar
    rutas: list[RutaRow]
    today: date
    people: Recipients
    last_entries: dict[int, RutaTransition]

    def in_state(self, *states: State) -> list[RutaRow]:
        return [ruta for ruta in self.rutas if ruta.state in states]

    def has_reported(self, ruta: RutaRow, checkpoint: FollowUpCheckpoint) -> bool:
        """``has_follow_up_report``, with one query per checkpoint for the whole pass."""
        if checkpoint.id not in self._reported:
            self._reported[checkpoint.id] = seguimiento.reported_ruta_ids(self.session,
                                                                          checkpoint.id)
        return ruta.id in self._reported[checkpoint.id]

    @cached_property
    def _reported(self) -> dict[int, set[int]]:
        return {}

    @cached_property
    def _constants(self) -> tuple[str, str, str]:
        # The same for every Ruta of the pass: worked out once, not 10,000 times.
        return (self.calendar.secretaria.name, outbox.absolute_url(self.session, "/rutas/"),
                fecha_corta(self.today))

    def context(self, ruta: RutaRow, **extra: Any) -> dict[str, Any]:
        """What every reminder template receives: plain strings, safe to store as JSON."""
        rector = self.people.rectors.get(ruta.school_id)
        secretaria_name, rutas_url, today = self._constants
        school = ruta.school
        return {
            "secretaria_name": secretaria_name,
            "school_name": school.name,
            "dane_code": school.dane_code,
            "horizon": ruta.horizon_label,
            "rector_name": rector.name if rector else "",
            "state_label": ruta.state.label,
            "ruta_url": f"{rutas_url}{ruta.id}",
            "today": today,
            **extra,
        }


RuleFinder = Callable[[Situation], Iterable[DueReminder]]


@dataclass(frozen=True)
class RuleSpec:
    rule: ReminderRule
    # The template pair under templates/email/ the outbox renders.
    kind: str
    # When and to whom, in Spanish (the calendar page lists the rules).
    when: str
    audience: str
    find: RuleFinder


# --- the rules ----------------------------------------------------------------------------


def _pmi_window(situation: Situation) -> tuple[date, date] | None:
    calendar = situation.calendar
    first_week = calendar.first_week_end(calendar.horizon_start_year)
    if first_week is None:
        return None
    return first_week, calendar.pmi_deadline


def pmi_pending(situation: Situation) -> Iterable[DueReminder]:
    """After the first semana institucional: the PMI is due, and when.

    Until the "deadline is near" window opens; from then on that reminder says it.
    """
    window = _pmi_window(situation)
    if window is None:
        return
    first_week, deadline = window
    near = deadline - timedelta(days=situation.calendar.pmi_lead_days)
    if not first_week < situation.today < near:
        return
    for ruta in situation.in_state(*PMI_OWED):
        yield DueReminder(
            ruta=ruta, rule=ReminderRule.PMI_PENDIENTE,
            occurrence_key=f"horizonte-{situation.calendar.horizon_start_year}",
            to=situation.people.rector(ruta),
            summary=f"El PMI debe reportarse a la Secretaría a más tardar el "
                    f"{fecha_corta(deadline)}.",
            context=situation.context(ruta, deadline=fecha_corta(deadline),
                                      deadline_iso=deadline.isoformat()))


def pmi_near(situation: Situation) -> Iterable[DueReminder]:
    """``pmi_lead_days`` before the deadline, up to the deadline itself."""
    window = _pmi_window(situation)
    if window is None:
        return
    first_week, deadline = window
    near = deadline - timedelta(days=situation.calendar.pmi_lead_days)
    if not (first_week < situation.today and near <= situation.today <= deadline):
        return
    days_left = (deadline - situation.today).days
    left = "hoy vence" if days_left == 0 else (
        "falta 1 día" if days_left == 1 else f"faltan {days_left} días")
    for ruta in situation.in_state(*PMI_OWED):
        yield DueReminder(
            ruta=ruta, rule=ReminderRule.PMI_PROXIMO,
            occurrence_key=f"horizonte-{situation.calendar.horizon_start_year}",
            to=situation.people.rector(ruta),
            summary=f"El plazo del PMI vence el {fecha_corta(deadline)}: {left}.",
            context=situation.context(ruta, deadline=fecha_corta(deadline),
                                      deadline_iso=deadline.isoformat(), days_left=days_left,
                                      left=left))


def pmi_overdue(situation: Situation) -> Iterable[DueReminder]:
    """After the deadline, once per ISO week, with the reviewer (or the revisores) in copy."""
    deadline = situation.calendar.pmi_deadline
    if situation.today <= deadline:
        return
    week = iso_week(situation.today)
    days_late = (situation.today - deadline).days
    for ruta in situation.in_state(*PMI_OWED):
        yield DueReminder(
            ruta=ruta, rule=ReminderRule.PMI_VENCIDO, occurrence_key=week,
            to=situation.people.rector(ruta), cc=situation.people.reviewer_or_all(ruta),
            summary=f"El plazo del PMI venció el {fecha_corta(deadline)} y la Ruta no lo ha "
                    f"enviado (aviso de la {week_label(situation.today)}).",
            context=situation.context(ruta, deadline=fecha_corta(deadline),
                                      deadline_iso=deadline.isoformat(), days_late=days_late,
                                      week=week_label(situation.today)))


def returned_not_resubmitted(situation: Situation) -> Iterable[DueReminder]:
    """A Ruta returned with observations more than ``returned_after_days`` days ago."""
    limit = situation.calendar.returned_after_days
    for ruta in situation.in_state(*PMI_OWED):
        last = situation.last_entries.get(ruta.id)
        if last is None or last.trigger != Trigger.DEVOLVER.value:
            continue
        returned_on = bogota_day(last.at)
        days = (situation.today - returned_on).days
        if days <= limit:
            continue
        yield DueReminder(
            ruta=ruta, rule=ReminderRule.DEVUELTA_SIN_REENVIAR,
            occurrence_key=f"devolucion-{last.id}", to=situation.people.rector(ruta),
            summary=f"La Secretaría devolvió la Ruta con observaciones el "
                    f"{fecha_corta(returned_on)} y lleva {days} días sin reenviarse.",
            context=situation.context(ruta, returned_on=fecha_corta(returned_on), days=days,
                                      observations=last.observations or ""))


def waiting_for_reviewers(situation: Situation) -> Iterable[DueReminder]:
    """A PMI nobody took, or taken and not decided, for more than ``review_wait_days``."""
    limit = situation.calendar.review_wait_days
    for ruta in situation.in_state(State.PMI_FORMULADO, State.EN_REVISION):
        since = bogota_day(ruta.state_changed_at)
        days = (situation.today - since).days
        if days <= limit:
            continue
        taken = ruta.state is State.EN_REVISION
        to = (situation.people.reviewer_or_all(ruta) if taken
              else list(situation.people.reviewers))
        summary = (f"El PMI está en revisión desde el {fecha_corta(since)} ({days} días) sin "
                   "decisión." if taken else
                   f"El PMI espera que un revisor lo tome desde el {fecha_corta(since)} "
                   f"({days} días).")
        yield DueReminder(
            ruta=ruta, rule=ReminderRule.REVISION_PENDIENTE,
            # Each stay in the state is its own occurrence: the moment the Ruta entered it.
            occurrence_key=f"{ruta.state.value}-{ruta.state_changed_at:%Y%m%dT%H%M%S}",
            to=to, summary=summary,
            context=situation.context(ruta, since=fecha_corta(since), days=days,
                                      taken=taken,
                                      reviewer_name=ruta.reviewer.name if ruta.reviewer
                                      else ""))


def _checkpoint_context(situation: Situation, ruta: RutaRow,
                        checkpoint: FollowUpCheckpoint, **extra: Any) -> dict[str, Any]:
    return situation.context(ruta, checkpoint_name=checkpoint.name,
                             checkpoint_date=fecha_corta(checkpoint.due_on),
                             checkpoint_iso=checkpoint.due_on.isoformat(), **extra)


def checkpoint_near(situation: Situation) -> Iterable[DueReminder]:
    """``checkpoint_lead_days`` before a checkpoint, to Rutas in seguimiento without report."""
    lead = timedelta(days=situation.calendar.checkpoint_lead_days)
    for checkpoint in situation.calendar.checkpoints:
        if not checkpoint.due_on - lead <= situation.today <= checkpoint.due_on:
            continue
        days_left = (checkpoint.due_on - situation.today).days
        for ruta in situation.in_state(State.SEGUIMIENTO):
            if situation.has_reported(ruta, checkpoint):
                continue
            yield DueReminder(
                ruta=ruta, rule=ReminderRule.CORTE_PROXIMO,
                occurrence_key=f"corte-{checkpoint.id}", to=situation.people.rector(ruta),
                summary=f"Se acerca el corte «{checkpoint.name}» del "
                        f"{fecha_corta(checkpoint.due_on)}: informe el avance del plan.",
                context=_checkpoint_context(situation, ruta, checkpoint,
                                            days_left=days_left))


def checkpoint_missed(situation: Situation) -> Iterable[DueReminder]:
    """``checkpoint_grace_days`` after a checkpoint, when its report is still missing.

    Only the latest checkpoint passed counts (until the next one's own notice takes over),
    and only for Rutas that were already in seguimiento on its date: a scheduler started
    late, or a Ruta that entered seguimiento later, does not flood schools with old notices.
    """
    grace = timedelta(days=situation.calendar.checkpoint_grace_days)
    points = situation.calendar.checkpoints
    for index, checkpoint in enumerate(points):
        following = points[index + 1] if index + 1 < len(points) else None
        if situation.today < checkpoint.due_on + grace:
            continue
        if following is not None and situation.today >= following.due_on + grace:
            continue
        for ruta in situation.in_state(State.SEGUIMIENTO):
            if bogota_day(ruta.state_changed_at) > checkpoint.due_on:
                continue
            if situation.has_reported(ruta, checkpoint):
                continue
            yield DueReminder(
                ruta=ruta, rule=ReminderRule.CORTE_VENCIDO,
                occurrence_key=f"corte-{checkpoint.id}", to=situation.people.rector(ruta),
                summary=f"Falta el informe de seguimiento del corte «{checkpoint.name}» "
                        f"({fecha_corta(checkpoint.due_on)}).",
                context=_checkpoint_context(
                    situation, ruta, checkpoint,
                    days_late=(situation.today - checkpoint.due_on).days))


RULES: Final[tuple[RuleSpec, ...]] = (
    RuleSpec(ReminderRule.PMI_PENDIENTE, "recordatorio_pmi_pendiente",
             "Después de la primera semana institucional del primer año, a cada Ruta que aún "
             "no ha enviado el PMI: cuándo vence.",
             "rector(a)", pmi_pending),
    RuleSpec(ReminderRule.PMI_PROXIMO, "recordatorio_pmi_proximo",
             "Unos días antes de la fecha límite del PMI (según la anticipación elegida), a "
             "cada Ruta que aún no lo ha enviado.",
             "rector(a)", pmi_near),
    RuleSpec(ReminderRule.PMI_VENCIDO, "recordatorio_pmi_vencido",
             "Vencida la fecha límite, una vez por semana, a cada Ruta que aún no ha enviado "
             "el PMI.",
             "rector(a), con copia al revisor(a) de la Ruta o, si no tiene, a los revisores",
             pmi_overdue),
    RuleSpec(ReminderRule.DEVUELTA_SIN_REENVIAR, "recordatorio_devuelta_sin_reenviar",
             "Cuando una Ruta devuelta con observaciones lleva más de los días elegidos sin "
             "reenviarse.",
             "rector(a)", returned_not_resubmitted),
    RuleSpec(ReminderRule.REVISION_PENDIENTE, "recordatorio_revision_pendiente",
             "Cuando un PMI lleva más de los días elegidos esperando que lo tomen, o en "
             "revisión sin decisión.",
             "el revisor(a) que lo tomó o, si nadie lo ha tomado, todos los revisores",
             waiting_for_reviewers),
    RuleSpec(ReminderRule.CORTE_PROXIMO, "recordatorio_corte_proximo",
             "Unos días antes de cada corte de seguimiento, a cada Ruta en seguimiento que "
             "no ha informado para ese corte.",
             "rector(a)", checkpoint_near),
    RuleSpec(ReminderRule.CORTE_VENCIDO, "recordatorio_corte_vencido",
             "Pasados los días de gracia después de un corte, si el informe sigue faltando.",
             "rector(a)", checkpoint_missed),
)


# --- the pass -----------------------------------------------------------------------------


# What a pass reads of a user (a ``Row`` with these attributes stands for the ``User``) and
# of a log entry (for the ``RutaTransition``).
PERSON_COLUMNS: Final = (User.id, User.secretaria_id, User.school_id, User.email, User.name,
                         User.role, User.active)
ENTRY_COLUMNS: Final = (RutaTransition.id, RutaTransition.ruta_id, RutaTransition.trigger,
                        RutaTransition.from_state, RutaTransition.to_state,
                        RutaTransition.actor_id, RutaTransition.at,
                        RutaTransition.observations, RutaTransition.extra)


def _situation(session: Session, calendar: HorizonCalendar, today: date) -> Situation:
    in_calendar = (School.secretaria_id == calendar.secretaria_id, School.active,
                   Ruta.horizon_start_year == calendar.horizon_start_year)
    reviewer_ids = (select(Ruta.reviewer_id).join(Ruta.school)
                    .where(*in_calendar, Ruta.reviewer_id.is_not(None)).distinct())
    reviewers = {user.id: user for user in session.execute(
        select(*PERSON_COLUMNS).where(User.id.in_(reviewer_ids)))}
    schools: dict[int, SchoolRow] = {}
    rutas = [
        RutaRow(id=row.id, school_id=row.school_id, state=row.state,
                state_changed_at=row.state_changed_at,
                horizon_start_year=row.horizon_start_year,
                horizon_end_year=row.horizon_end_year,
                school=schools.setdefault(row.school_id, SchoolRow(row.name, row.dane_code)),
                reviewer=reviewers.get(row.reviewer_id) if row.reviewer_id else None)
        for row in session.execute(
            select(Ruta.id, Ruta.school_id, Ruta.state, Ruta.state_changed_at,
                   Ruta.horizon_start_year, Ruta.horizon_end_year, Ruta.reviewer_id,
                   School.name, School.dane_code)
            .join(Ruta.school).where(*in_calendar).order_by(Ruta.id))]
    people = Recipients()
    # The people and the last log entries are read-only here: plain rows with the same
    # attribute names, not ORM objects (a pass reads every rector of the Secretaría, and
    # building 10,000 tracked objects cost more than the query).
    for user in session.execute(select(*PERSON_COLUMNS).where(
            User.secretaria_id == calendar.secretaria_id, User.active,
            User.role.in_([Role.RECTOR, Role.REVISOR])).order_by(User.id)):
        if user.role is Role.RECTOR and user.school_id is not None:
            people.rectors[user.school_id] = user
        elif user.role is Role.REVISOR:
            people.reviewers.append(user)
    # The calendar's Rutas as a subquery, not a list of 10,000 ids to bind and parse.
    calendar_rutas = select(Ruta.id).join(Ruta.school).where(*in_calendar)
    last_ids = (select(func.max(RutaTransition.id))
                .where(RutaTransition.ruta_id.in_(calendar_rutas))
                .group_by(RutaTransition.ruta_id))
    last_entries = {entry.ruta_id: entry for entry in session.execute(
        select(*ENTRY_COLUMNS).where(RutaTransition.id.in_(last_ids)))}
    return Situation(session=session, calendar=calendar, rutas=rutas, today=today,
                     people=people, last_entries=last_entries)


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

    A reminder without anyone to write to (a school without an active rector, a Secretaría
    without revisores) is not recorded, so it goes out once someone is there to read it.
    """
    now = now or utcnow()
    queued: list[QueuedReminder] = []
    calendars = session.scalars(select(HorizonCalendar).order_by(HorizonCalendar.id)).all()
    for calendar in calendars:
        situation = _situation(session, calendar, today)
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


def reminders_for(session: Session, ruta: Ruta) -> list[ReminderSent]:
    """The reminders queued for ``ruta``, newest first (its page lists them)."""
    return list(session.scalars(
        select(ReminderSent).where(ReminderSent.ruta_id == ruta.id)
        .order_by(ReminderSent.created_at.desc(), ReminderSent.id.desc())))
