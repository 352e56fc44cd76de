"""The daily pass: evaluate the reminder rules for one day (America/Bogota), once.

The rules live in ``workflow.reminders``; this job gives them a session, claims the day in
``job_runs`` (so the pass runs once per day whoever starts it: the scheduler at its hour,
the scheduler catching up at startup, or ``ruta jobs run-once``) and commits once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import Flask

from workflow.reminders import (
    BOGOTA,
    DAILY_JOB,
    QueuedReminder,
    bogota_day,
    claim_job_run,
    evaluate_reminders,
    has_run,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DailyPass:
    day: date
    # False when the day's pass had already run: nothing was evaluated.
    ran: bool
    queued: list[QueuedReminder] = field(default_factory=list)


def run_daily_pass(app: Flask, *, now: datetime, day: date | None = None) -> DailyPass:
    """Run the pass for ``day`` (default: ``now``'s day in Bogotá) unless it already ran.

    The claim of the day and every reminder it queues commit together: a pass that fails
    leaves the day unclaimed, and the next attempt runs it again.
    """
    day = day or bogota_day(now)
    factory = app.extensions["ruta_db"].session_factory
    with factory() as session:
        run = claim_job_run(session, job=DAILY_JOB, day=day, now=now)
        if run is None:
            session.rollback()
            log.info("La pasada diaria del %s ya se había ejecutado.", day.isoformat())
            return DailyPass(day=day, ran=False)
        queued = evaluate_reminders(session, today=day, now=now)
        run.finished_at = now
        run.queued = len(queued)
        session.commit()
    log.info("Pasada diaria del %s: %d recordatorio(s) encolado(s).", day.isoformat(),
             len(queued))
    return DailyPass(day=day, ran=True, queued=queued)


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
