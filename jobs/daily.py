"""The daily pass for one day (America/Bogota): move the horizons, start the plans due, then
the reminders.

First, every Secretaría whose next horizon has started makes it current
(``advance_current_horizons``, idempotent, committed on its own). Then every approved Ruta
whose plan has started (the earliest ``fecha_inicio`` of its actividades is on or before the
day) enters ``seguimiento``: ``iniciar_seguimiento`` fired by the system (actor None), in
transactions of ``START_CHUNK`` Rutas that lock their rows first, so a revisor starting the
same Ruta at the same moment (or a second pass) costs that Ruta only; it is idempotent
because a started Ruta is no longer ``aprobado``. Then the reminder rules
(``workflow.correo.reminders``, evaluated by ``workflow.correo.reminder_pass``): the job
claims the day in ``job_runs`` (so they run once per day whoever starts the pass: the
scheduler at its hour, the scheduler catching up at startup, or ``ruta jobs run-once``) and
commits once. Once the day is claimed, the bodies of the messages sent before the outbox's
retention are emptied (``retention.prune_sent``): on PostgreSQL in a transaction of their own,
on another connection, while the reminders are evaluated.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from workflow import form_tokens, notifications
from workflow.correo import retention
from workflow.correo.reminder_pass import (
    DAILY_JOB,
    QueuedReminder,
    claim_job_run,
    evaluate_reminders,
    has_run,
)
from workflow.correo.reminders import bogota_day
from workflow.dates import BOGOTA
from workflow.errors import DomainError
from workflow.horizontes.horizons import advance_current_horizons
from workflow.models import Ruta, School
from workflow.seguimiento import actions as seguimiento_actions
from workflow.seguimiento import progress as seguimiento
from workflow.services import flush_transitions
from workflow.states import State

log = logging.getLogger(__name__)

# How long a one-time form token is remembered: a form left open for a week and posted twice
# is still caught; older tokens are forgotten by the daily pass.
FORM_TOKEN_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class DailyPass:
    day: date
    # False when the day's pass had already run: nothing was evaluated.
    ran: bool
    queued: list[QueuedReminder] = field(default_factory=list)
    # Rutas this pass moved to ``seguimiento`` (their plan's start date arrived).
    started: list[int] = field(default_factory=list)
    # One-time form tokens older than ``FORM_TOKEN_RETENTION`` that the pass forgot.
    forgotten_tokens: int = 0
    # The horizons that became current this day («2027–2029»), whether or not the rest ran.
    advanced: list[str] = field(default_factory=list)
    # Sent messages older than OUTBOX_RETENTION_DAYS whose bodies the pass emptied.
    pruned_messages: int = 0


def advance_horizons(app: Flask, *, day: date) -> list[str]:
    """Make current every Secretaría's horizon whose first year started by ``day``; its own
    transaction, so a day whose reminders already ran still moves the pointer."""
    factory = app.extensions["ruta_db"].session_factory
    with factory() as session:
        advanced = [f"{horizon.secretaria.name}: {horizon.horizon_label}"
                    for horizon in advance_current_horizons(session, day)]
        session.commit()
    for label in advanced:
        log.info("Pasada diaria del %s: el horizonte vigente es ahora %s.", day.isoformat(),
                 label)
    return advanced


# Rutas started per transaction on PostgreSQL: their aggregates are refreshed together at its
# commit (one Ruta per transaction cost 435 refreshes and commits at 10,000 schools; each
# chunk costs a refresh's dozen statements, and refresh_rutas takes 500 Rutas at a time),
# while the locks a chunk holds on approved Rutas (which only a revisor starting one by
# hand would wait for) are released within half a second or so. SQLite ignores row locks
# (it serializes writers instead), so there each Ruta keeps its own transaction and a Ruta
# moved between the read and the write costs only itself (a deployment small enough for
# SQLite starts a handful a day).
START_CHUNK = 500


def start_due_follow_ups(app: Flask, *, day: date, now: datetime) -> list[int]:
    """Fire ``iniciar_seguimiento`` as the system for every approved Ruta whose plan started
    by ``day``, in transactions of ``START_CHUNK`` Rutas (``_start_together``): a Ruta that
    a revisor (or a second pass) started meanwhile is left out and the others go on. A
    chunk that fails is tried again one Ruta per transaction."""
    factory = app.extensions["ruta_db"].session_factory
    with factory() as session:
        due = seguimiento.rutas_due_to_start(session, day)
        chunked = session.get_bind().dialect.name == "postgresql"
    started = []
    size = START_CHUNK if chunked else 1
    for first in range(0, len(due), size):
        chunk = due[first:first + size]
        try:
            started += _start_together(factory, chunk, now)
        except SQLAlchemyError:
            log.exception("Los seguimientos de %d Ruta(s) no se iniciaron juntos; se intentan "
                          "uno por uno.", len(chunk))
            for ruta_id in chunk:
                started += _start_together(factory, [ruta_id], now)
    if started:
        log.info("Pasada diaria del %s: %d plan(es) iniciaron su seguimiento.",
                 day.isoformat(), len(started))
    return started


def _lock_approved(session: Session, ruta_ids: list[int]) -> list[Ruta]:
    """Those of the Rutas still ``aprobado``, each row locked until the transaction ends (in
    id order, as ``refresh_rutas`` locks, so two such lockers cannot deadlock), with their
    schools and Secretarías. A Ruta another transaction is changing is waited for and read
    as that one left it."""
    return list(session.scalars(
        select(Ruta).where(Ruta.id.in_(ruta_ids), Ruta.state == State.APROBADO)
        .order_by(Ruta.id).with_for_update(of=Ruta)
        .options(joinedload(Ruta.school).joinedload(School.secretaria))))


def _start_together(factory: sessionmaker[Session], ruta_ids: list[int],
                    now: datetime) -> list[int]:
    """Start the Rutas' seguimientos in one transaction; the ones started.

    Their rows are locked first (``_lock_approved``) and only those still ``aprobado`` are
    started: one a revisor started meanwhile is left out, and a revisor who tries while the
    pass holds it waits for the commit and then finds a stale version (409). Nothing else
    can move a locked Ruta, so the transitions are written together, without a savepoint
    each (``flush_transitions``: the Rutas in one executemany UPDATE, the audit rows in one
    INSERT on PostgreSQL), then their e-mails in one INSERT (``transitions_happened``), all
    in the transaction that changes the states. Where the lock is ignored (SQLite, one Ruta
    at a time) a version that moved after the read fails the write: that Ruta is not
    started; on a chunk the error goes to the caller, which tries each Ruta alone.
    """
    with factory() as session:
        rutas = _lock_approved(session, ruta_ids)
        left_out = set(ruta_ids) - {ruta.id for ruta in rutas}
        for ruta_id in sorted(left_out):
            log.info("La Ruta %d no se inició: ya no está aprobada.", ruta_id)
        entries = []
        for ruta in rutas:
            try:
                entries.append(seguimiento_actions.start_follow_up(
                    session, ruta, actor=None, expected_version=ruta.version, now=now,
                    notify=False, flush=False))
            except DomainError as refused:  # refused before changing anything
                log.info("La Ruta %d no se inició (%s).", ruta.id, refused.message)
        try:
            flush_transitions(session, entries)
        except StaleDataError:
            if len(ruta_ids) > 1:
                raise
            session.rollback()
            log.info("La Ruta %d no se inició: otra transacción la cambió.", ruta_ids[0])
            return []
        notifications.transitions_happened(session, entries)
        session.commit()
        return [entry.ruta_id for entry in entries]


def run_daily_pass(app: Flask, *, now: datetime, day: date | None = None) -> DailyPass:
    """Run the pass for ``day`` (default: ``now``'s day in Bogotá) unless it already ran.

    The claim of the day and every reminder it queues commit together: a pass that fails
    leaves the day unclaimed, and the next attempt runs it again.
    """
    day = day or bogota_day(now)
    with _no_cyclic_collection():
        return _run(app, now=now, day=day)


@contextmanager
def _no_cyclic_collection() -> Iterator[None]:
    """Python's cyclic garbage collector off for the pass, back on after it (as it was).

    The pass keeps some hundred thousand objects alive at once (a row per Ruta and per
    rector, a context and three bodies per reminder); every few thousand allocations the
    collector walked them, and its full collections, which walk every object of the process,
    took 0.56 s of a 3.5 s pass at 10,000 schools. Reference counting still frees
    everything as usual; what the pass leaves in cycles (its sessions) waits for the next
    collection after it: the peak memory of the pass did not change (187 and 189 MiB).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run(app: Flask, *, now: datetime, day: date) -> DailyPass:
    advanced = advance_horizons(app, day=day)
    started = start_due_follow_ups(app, day=day, now=now)
    factory = app.extensions["ruta_db"].session_factory
    with factory() as session:
        run = claim_job_run(session, job=DAILY_JOB, day=day, now=now)
        if run is None:
            session.rollback()
            log.info("La pasada diaria del %s ya se había ejecutado.", day.isoformat())
            return DailyPass(day=day, ran=False, started=started, advanced=advanced)
        retention_days = app.config.get("OUTBOX_RETENTION_DAYS",
                                        retention.DEFAULT_RETENTION_DAYS)
        if session.get_bind().dialect.name != "postgresql":
            queued = evaluate_reminders(session, today=day, now=now)
            forgotten = form_tokens.purge(session, before=now - FORM_TOKEN_RETENTION)
            pruned = retention.prune_sent(session, now=now, retention_days=retention_days)
        else:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="daily-prune") as pool:
                pruning = pool.submit(_prune_alone, factory, now=now,
                                      retention_days=retention_days)
                queued = evaluate_reminders(session, today=day, now=now)
                forgotten = form_tokens.purge(session, before=now - FORM_TOKEN_RETENTION)
                pruned = pruning.result()
        run.finished_at = now
        run.queued = len(queued)
        session.commit()
    log.info("Pasada diaria del %s: %d recordatorio(s) encolado(s), %d correo(s) enviado(s) "
             "hace más de su retención sin su texto.", day.isoformat(), len(queued), pruned)
    return DailyPass(day=day, ran=True, queued=queued, started=started,
                     forgotten_tokens=forgotten, advanced=advanced, pruned_messages=pruned)


def _prune_alone(factory: sessionmaker[Session], *, now: datetime, retention_days: int) -> int:
    """``retention.prune_sent`` in a transaction of its own (run beside the reminders).

    Emptying the bodies is PostgreSQL's work alone (the messages the day before emptied are
    read again, their pages' hint bits written: 0.4 to 0.6 s of the pass at 10,000 schools
    the day after a large prune); on a connection of its own it overlaps the reminders'
    Python work instead of following it. It touches no row the reminders write, and it is
    idempotent: committed while the reminders are rolled back, the next attempt finds
    nothing more to empty. SQLite, one writer at a time, would only wait for the pass's own
    transaction: there the pass prunes in its transaction, after the reminders.
    """
    with factory() as session:
        pruned = retention.prune_sent(session, now=now, retention_days=retention_days)
        session.commit()
    return pruned


def catch_up(app: Flask, *, now: datetime, hour: int) -> DailyPass | None:
    """At scheduler start: run today's pass if its hour has passed and it has not run.

    Before the hour nothing runs (the scheduled job will, at the hour). Returns None when
    there was nothing to catch up.
    """
    today = bogota_day(now)
    if now.astimezone(BOGOTA).hour < hour:
        return None
    factory = app.extensions["ruta_db"].session_factory
    with factory() as session:
        if has_run(session, job=DAILY_JOB, day=today):
            return None
    log.info("El programador no estaba activo a las %02d:00: se ejecuta ahora la pasada del %s.",
             hour, today.isoformat())
    return run_daily_pass(app, now=now, day=today)
