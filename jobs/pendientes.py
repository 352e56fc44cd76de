"""The weekly «Pendientes» digest for one week (America/Bogota, weeks start on Monday).

The job claims the week in ``job_runs`` (the row of its Monday, job ``resumen_pendientes``),
so the week's pass runs once whoever starts it: the scheduler on Monday, the scheduler
catching up at startup, or ``ruta jobs resumen-pendientes``. Each revisor's digest is also
recorded in ``pending_digests`` (``workflow.pendientes.digest``): at most one per week even
if the pass itself ran twice. One transaction, committed once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import Flask

from workflow.correo.reminder_pass import claim_job_run, has_run
from workflow.dates import BOGOTA
from workflow.pendientes.digest import DIGEST_JOB, QueuedDigest, send_weekly_digests, week_of
from workflow.seguimiento.models import bogota_day

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeeklyDigest:
    week: str
    # False when the week's pass had already run: nothing was queued.
    ran: bool
    queued: list[QueuedDigest] = field(default_factory=list)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def run_weekly_digest(app: Flask, *, now: datetime) -> WeeklyDigest:
    """Queue this week's digests unless the week's pass already ran."""
    day = bogota_day(now)
    week = week_of(day)
    factory = app.extensions["ruta_db"].session_factory
    with factory() as session:
        run = claim_job_run(session, job=DIGEST_JOB, day=monday_of(day), now=now)
        if run is None:
            session.rollback()
            log.info("El resumen semanal de pendientes de %s ya se había enviado.", week)
            return WeeklyDigest(week=week, ran=False)
        queued = send_weekly_digests(session, now=now)
        run.finished_at, run.queued = now, len(queued)
        session.commit()
    log.info("Resumen semanal de pendientes de %s: %d correo(s) encolado(s).", week,
             len(queued))
    return WeeklyDigest(week=week, ran=True, queued=queued)


def catch_up_digest(app: Flask, *, now: datetime, hour: int) -> WeeklyDigest | None:
    """At scheduler start: run this week's pass if Monday's hour has passed and it has not
    run (a scheduler that was down on Monday). None when there was nothing to catch up."""
    local = now.astimezone(BOGOTA)
    if local.weekday() == 0 and local.hour < hour:
        return None
    factory = app.extensions["ruta_db"].session_factory
    with factory() as session:
        if has_run(session, job=DIGEST_JOB, day=monday_of(local.date())):
            return None
    return run_weekly_digest(app, now=now)
