"""The reminder rules (America/Bogota days); ``workflow.correo.reminder_pass`` evaluates them.

Each rule is data: a stable name, the e-mail template it queues, and a function that says,
for one calendar and one day, which Rutas are due a reminder and under which occurrence key.
The pass records each one once (``reminders_sent``).

Windows, not single days: a rule fires on any day of its window until it has fired, so a
pass missed while the scheduler was down is caught up by the next one.

Reminders end: a horizon whose last year is over sends nothing, nor does a closed Ruta. People
who have not activated their account (``User.activated_at``) receive nothing, and a reminder
whose rector has not activated the account is not recorded (nor copied to the revisores).

One PMI reminder at a time (``pmi_stage``): a Ruta that owes its PMI is, each day, in at most
one stage, by precedence: returned with observations (its last transition is ``devolver``:
only «devuelta sin reenviar», once the days have passed), else by its own deadline: overdue,
near, pending. A school that joined the horizon late has its own deadline
(``workflow.horizontes.horizons.school_pmi_deadline``: the grace period from the day its Ruta
opened or its rector activated the account), and none before that rector activates it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, Final

from sqlalchemy.orm import Session

from workflow import outbox
from workflow.dates import BOGOTA
from workflow.horizontes.calendar import fecha_corta
from workflow.horizontes.horizons import school_pmi_deadline
from workflow.horizontes.models import (
    FollowUpCheckpoint,
    HorizonCalendar,
    ReminderRule,
    ReminderSent,
)
from workflow.models import Ruta, RutaTransition, User
from workflow.ruta_rows import rows_of
from workflow.seguimiento import progress as seguimiento
from workflow.states import State, Trigger

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
    created_at: datetime
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


@dataclass
class Recipients:
    """The people of one Secretaría a pass writes to, loaded once per calendar."""

    # Only people who activated their account: the others have never signed in to read it.
    rectors: dict[int, User] = field(default_factory=dict)  # school id → active rector
    reviewers: list[User] = field(default_factory=list)  # the Secretaría's active revisores

    def rector(self, ruta: RutaRow) -> list[User]:
        found = self.rectors.get(ruta.school_id)
        return [found] if found is not None else []

    def reviewer_or_all(self, ruta: RutaRow) -> list[User]:
        reviewer = ruta.reviewer
        if reviewer is not None and reviewer.active and reviewer.activated_at is not None:
            return [reviewer]
        return list(self.reviewers)


@dataclass
class Situation:
    """What a rule may look at: the calendar, its Rutas, the day, the people to write to."""

    session: Session
    calendar: HorizonCalendar
    rutas: list[RutaRow]
    today: date
    people: Recipients
    # The last log entry of each Ruta that still owes its PMI (``PMI_OWED``): the rules read
    # no other Ruta's.
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

    def pmi_deadline(self, ruta: RutaRow) -> date | None:
        """The day this Ruta's school owes its PMI by: the horizon's, or its own when it
        joined late (None while that school's rector has not activated the account)."""
        rector = self.people.rectors.get(ruta.school_id)
        return school_pmi_deadline(self.calendar, opened_at=ruta.created_at,
                                   activated_at=rector.activated_at if rector else None)

    @cached_property
    def pmi_stages(self) -> dict[int, tuple[ReminderRule, date | None]]:
        """Ruta id → the one PMI reminder it may get today and its deadline (``pmi_stage``)."""
        stages = {}
        for ruta in self.in_state(*PMI_OWED):
            stage = pmi_stage(self, ruta)
            if stage is not None:
                stages[ruta.id] = stage
        return stages

    def at_pmi_stage(self, rule: ReminderRule) -> Iterable[tuple[RutaRow, date | None]]:
        for ruta in self.rutas:
            stage = self.pmi_stages.get(ruta.id)
            if stage is not None and stage[0] is rule:
                yield ruta, stage[1]

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


def pmi_stage(situation: Situation,
              ruta: RutaRow) -> tuple[ReminderRule, date | None] | None:
    """Which PMI reminder a Ruta that owes its PMI may get today (at most one), by precedence.

    1. Returned with observations (its last transition is ``devolver``): «devuelta sin
       reenviar» only; the deadline reminders say "you have not sent it", which is not true.
    2. Else nothing before the first semana institucional of the horizon's first year ends,
       nor while the Ruta has no deadline (none entered yet; a late joiner whose rector has
       not activated the account).
    3. Else by its own deadline: after it «vencido»; from ``pmi_lead_days`` before it
       «próximo»; before that «pendiente».
    """
    last = situation.last_entries.get(ruta.id)
    if last is not None and last.trigger == Trigger.DEVOLVER.value:
        return ReminderRule.DEVUELTA_SIN_REENVIAR, None
    calendar, today = situation.calendar, situation.today
    first_week = calendar.first_week_end(calendar.horizon_start_year)
    deadline = situation.pmi_deadline(ruta)
    if first_week is None or deadline is None or today <= first_week:
        return None
    if today > deadline:
        return ReminderRule.PMI_VENCIDO, deadline
    if today >= deadline - timedelta(days=calendar.pmi_lead_days):
        return ReminderRule.PMI_PROXIMO, deadline
    return ReminderRule.PMI_PENDIENTE, deadline


def pmi_pending(situation: Situation) -> Iterable[DueReminder]:
    """After the first semana institucional: the PMI is due, and when.

    Until the "deadline is near" window opens; from then on that reminder says it.
    """
    for ruta, deadline in situation.at_pmi_stage(ReminderRule.PMI_PENDIENTE):
        assert deadline is not None
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
    for ruta, deadline in situation.at_pmi_stage(ReminderRule.PMI_PROXIMO):
        assert deadline is not None
        days_left = (deadline - situation.today).days
        left = "hoy vence" if days_left == 0 else (
            "falta 1 día" if days_left == 1 else f"faltan {days_left} días")
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
    week = iso_week(situation.today)
    for ruta, deadline in situation.at_pmi_stage(ReminderRule.PMI_VENCIDO):
        assert deadline is not None
        yield DueReminder(
            ruta=ruta, rule=ReminderRule.PMI_VENCIDO, occurrence_key=week,
            to=situation.people.rector(ruta), cc=situation.people.reviewer_or_all(ruta),
            summary=f"El plazo del PMI venció el {fecha_corta(deadline)} y la Ruta no lo ha "
                    f"enviado (aviso de la {week_label(situation.today)}).",
            context=situation.context(ruta, deadline=fecha_corta(deadline),
                                      deadline_iso=deadline.isoformat(),
                                      days_late=(situation.today - deadline).days,
                                      week=week_label(situation.today)))


def returned_not_resubmitted(situation: Situation) -> Iterable[DueReminder]:
    """A Ruta returned with observations more than ``returned_after_days`` days ago."""
    limit = situation.calendar.returned_after_days
    for ruta, _ in situation.at_pmi_stage(ReminderRule.DEVUELTA_SIN_REENVIAR):
        last = situation.last_entries[ruta.id]
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


def new_year_of_follow_up(situation: Situation) -> Iterable[DueReminder]:
    """After the first semana institucional of each later year of the horizon, to the Rutas
    in seguimiento since before it: a new year of reports begins, with that year's
    checkpoints. A year whose semana institucional is not entered sends nothing."""
    calendar, today = situation.calendar, situation.today
    year = today.year
    if year == calendar.horizon_start_year or year not in calendar.years:
        return
    week = calendar.first_week_end(year)
    if week is None or today <= week:
        return
    points = calendar.checkpoints_of(year)
    listed = "; ".join(f"«{point.name}», el {fecha_corta(point.due_on)}" for point in points)
    checkpoints = (f"Los cortes de {year} son: {listed}." if points else
                   f"La Secretaría aún no ha fijado los cortes de {year}: se los avisará.")
    for ruta in situation.in_state(State.SEGUIMIENTO):
        if bogota_day(ruta.state_changed_at) > week:
            continue  # entered seguimiento this year: its start said it all
        yield DueReminder(
            ruta=ruta, rule=ReminderRule.SEGUIMIENTO_ANUAL, occurrence_key=f"anio-{year}",
            to=situation.people.rector(ruta),
            summary=f"Comienza el seguimiento de {year}. {checkpoints}",
            context=situation.context(ruta, year=year, week_end=fecha_corta(week),
                                      checkpoints_text=checkpoints))


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
    RuleSpec(ReminderRule.SEGUIMIENTO_ANUAL, "recordatorio_seguimiento_anual",
             "Después de la primera semana institucional de cada año siguiente al primero, a "
             "cada Ruta en seguimiento: comienza un nuevo año, con sus cortes. Un año sin su "
             "semana institucional no envía este aviso.",
             "rector(a)", new_year_of_follow_up),
)


def reminders_for(session: Session, ruta: Ruta) -> list[ReminderSent]:
    """The reminders queued for ``ruta``, newest first (its page lists them)."""
    return sorted(rows_of(session, ReminderSent, ruta.id),
                  key=lambda row: (row.created_at, row.id), reverse=True)
