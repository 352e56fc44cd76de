"""``ruta scheduler``: the one process that runs the periodic jobs (never a web worker).

Jobs, by stable id (``JOBS``):

- ``recordatorios``: the daily pass of reminder rules, every day at ``REMINDER_HOUR``
  (default 6) America/Bogota, whatever the machine's timezone: the timezone is given to the
  scheduler and to every trigger, because APScheduler 3 otherwise follows the machine's.
  ``coalesce`` and a large ``misfire_grace_time`` make a late scheduler (a suspended
  machine) run the pass once instead of skipping it silently; and at startup, a scheduler
  that was down at the hour runs today's pass right away (``job_runs`` keeps it to once).
- ``correo``: outbox delivery, every minute.
- ``resumen_pendientes``: the weekly «Pendientes» digest of every revisor (``jobs.pendientes``),
  on Mondays at ``REMINDER_HOUR`` America/Bogota; at startup a scheduler that was down then
  runs the week's digest right away (``job_runs`` keeps it to once per week).
- ``consolidado``: the consolidado's per-Ruta aggregates refreshed every day at
  ``REMINDER_HOUR``:15 America/Bogota (``workflow.consolidado.aggregates``): every change of a
  Ruta already refreshes its own at once; this one moves what depends on the day (days, a
  seguimiento checkpoint falling due). /reportes/ shows the time of the oldest; after the
  upgrade that creates the table, run ``ruta consolidado actualizar`` once.
- ``exportaciones``: large consolidated Excel files queued from the web, every 15 seconds
  (``workflow.consolidado.export_jobs.run_pending``; it also deletes files past their retention).

Only one scheduler runs per database. A second one started by mistake does no harm: it
asks for a lock and, without it, exits with code 0 and says why (``--esperar`` makes it
wait instead, as a hot standby). Before every job run the scheduler confirms it still holds
the lock (``SchedulerLock.confirm``): a PostgreSQL restart or failover, or a
``pg_terminate_backend``, ends the session that held it, and a second scheduler may have
taken it since. A scheduler that finds its connection gone re-takes the lock when nobody else
did; when another scheduler holds it, it runs nothing more and exits with code 1 and says why
(a service manager restarting it then finds the lock taken and exits with 0), or, with
``--esperar``, goes back to waiting.

- PostgreSQL: ``pg_try_advisory_lock(SCHEDULER_LOCK_KEY)`` on a dedicated connection held
  for the life of the process. The lock dies with the connection, so a killed scheduler
  never leaves it behind.
- SQLite: an exclusive ``flock`` on the file ``<database file>.scheduler-lock`` beside the
  database, held for the life of the process; the operating system releases it when the
  process ends, however it ends. (A lock row would outlive a crashed scheduler.) SQLite is
  for one machine, and so is this lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Final

import click
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from ruta.config import ConfigError
from ruta.db import make_engine
from workflow.dates import BOGOTA
from workflow.models import utcnow
from workflow.operacion.health import HEARTBEAT_SECONDS

log = logging.getLogger(__name__)

# "RUTA" in ASCII: the advisory lock key of the scheduler, the same in every process.
SCHEDULER_LOCK_KEY: Final = 0x52555441
# A pass more than this late is skipped (the next day's runs); until then it still runs once.
DAILY_MISFIRE_GRACE_SECONDS: Final = 23 * 3600
# Delivery runs every minute: a run later than that is covered by the next one.
DELIVERY_MISFIRE_GRACE_SECONDS: Final = 60
DAILY_JOB_ID: Final = "recordatorios"
DELIVERY_JOB_ID: Final = "correo"
EXPORT_JOB_ID: Final = "exportaciones"
DIGEST_JOB_ID: Final = "resumen_pendientes"
CONSOLIDADO_JOB_ID: Final = "consolidado"
EXPORT_INTERVAL_SECONDS: Final = 15
HEARTBEAT_JOB_ID: Final = "latido"
ALREADY_RUNNING: Final = ("Ya hay un programador de tareas en ejecución para esta base de "
                          "datos. Este proceso termina sin hacer nada.")
WAIT_POLL_SECONDS: Final = 5.0
LOST_LOCK: Final = ("Este programador de tareas perdió su candado en la base de datos (la "
                    "conexión se cortó) y otro programador lo tomó: deja de ejecutar tareas.")
STANDBY: Final = ("Ya hay un programador de tareas en ejecución para esta base de datos: este "
                  "proceso espera a que termine para reemplazarlo.")
# Is this session's advisory lock on SCHEDULER_LOCK_KEY still granted? (A bigint key shows in
# pg_locks as classid = its high 32 bits, objid = its low 32 bits, objsubid = 1.)
_HOLDS_LOCK = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND pid = pg_backend_pid() AND database = (SELECT oid FROM pg_database "
    "WHERE datname = current_database()) AND classid::bigint = :high "
    "AND objid::bigint = :low AND objsubid = 1)")


# --- the jobs -----------------------------------------------------------------------------


def daily_job(app: Flask) -> None:
    from jobs.daily import run_daily_pass

    run_daily_pass(app, now=utcnow())


def delivery_job(app: Flask) -> None:
    from jobs.deliver import deliver_pending

    report = deliver_pending(app, now=utcnow())
    if report.claimed:
        log.info("Correo saliente: %d enviado(s), %d por reintentar, %d fallido(s), "
                 "%d incierto(s).", report.sent, report.retrying, report.failed,
                 report.unknown)


def digest_job(app: Flask) -> None:
    from jobs.pendientes import run_weekly_digest

    run_weekly_digest(app, now=utcnow())


def export_job(app: Flask) -> None:
    from pathlib import Path as _Path

    from workflow.consolidado.export_jobs import run_pending

    ran = run_pending(app.extensions["ruta_db"].session_factory,
                      folder=_Path(app.config["EXPORT_FOLDER"]),
                      stalled_days=app.config["STALLED_DAYS"], now=utcnow(),
                      retention_days=app.config.get("EXPORT_RETENTION_DAYS", 7))
    for job_id, status in ran:
        log.info("Exportación %s: %s.", job_id, status.label)


def consolidado_job(app: Flask) -> None:
    from workflow.consolidado.aggregates import refresh_in_batches

    written = refresh_in_batches(app.extensions["ruta_db"].session_factory, now=utcnow())
    log.info("Consolidado: cifras de %d Ruta(s) actualizadas.", written)


def heartbeat_job(app: Flask, started_at: Any = None) -> None:
    """Tell /salud and /metricas this scheduler is alive (``workflow.operacion.health``)."""
    import socket

    from workflow.operacion.health import record_heartbeat

    now = utcnow()
    with app.extensions["ruta_db"].session_factory() as session:
        record_heartbeat(session, now=now, started_at=started_at or now,
                         host=socket.gethostname()[:255], pid=os.getpid())
        session.commit()


def reminder_hour(config: dict[str, Any] | Any) -> int:
    raw = config.get("REMINDER_HOUR", 6)
    try:
        hour = int(raw)
    except (TypeError, ValueError):
        hour = -1
    if not 0 <= hour <= 23:
        raise ConfigError(f"REMINDER_HOUR debe ser una hora entre 0 y 23; vale «{raw}».")
    return hour


def build_scheduler(app: Flask, *,
                    daily: Callable[[Flask], None] = daily_job,
                    deliver: Callable[[Flask], None] = delivery_job,
                    export: Callable[[Flask], None] = export_job,
                    digest: Callable[[Flask], None] = digest_job,
                    heartbeat: Callable[[Flask], None] | None = None,
                    consolidado: Callable[[Flask], None] = consolidado_job
                    ) -> BlockingScheduler:
    """The scheduler with its jobs added, not started (tests inspect it as it is)."""
    hour = reminder_hour(app.config)
    scheduler = BlockingScheduler(
        timezone=BOGOTA,
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    scheduler.add_job(
        daily, CronTrigger(hour=hour, minute=0, timezone=BOGOTA), args=[app],
        id=DAILY_JOB_ID, name="Pasada diaria de recordatorios", coalesce=True,
        misfire_grace_time=DAILY_MISFIRE_GRACE_SECONDS, max_instances=1)
    scheduler.add_job(
        deliver, IntervalTrigger(minutes=1, timezone=BOGOTA), args=[app],
        id=DELIVERY_JOB_ID, name="Envío del correo saliente", coalesce=True,
        misfire_grace_time=DELIVERY_MISFIRE_GRACE_SECONDS, max_instances=1)
    scheduler.add_job(
        export, IntervalTrigger(seconds=EXPORT_INTERVAL_SECONDS, timezone=BOGOTA), args=[app],
        id=EXPORT_JOB_ID, name="Exportaciones en segundo plano", coalesce=True,
        misfire_grace_time=EXPORT_INTERVAL_SECONDS, max_instances=1)
    scheduler.add_job(
        digest, CronTrigger(day_of_week="mon", hour=hour, minute=30, timezone=BOGOTA),
        args=[app], id=DIGEST_JOB_ID, name="Resumen semanal de pendientes", coalesce=True,
        misfire_grace_time=DAILY_MISFIRE_GRACE_SECONDS, max_instances=1)
    scheduler.add_job(
        consolidado, CronTrigger(hour=hour, minute=15, timezone=BOGOTA), args=[app],
        id=CONSOLIDADO_JOB_ID, name="Cifras del consolidado", coalesce=True,
        misfire_grace_time=DAILY_MISFIRE_GRACE_SECONDS, max_instances=1)
    scheduler.add_job(
        heartbeat or _heartbeat_since(utcnow()),
        IntervalTrigger(seconds=HEARTBEAT_SECONDS, timezone=BOGOTA), args=[app],
        id=HEARTBEAT_JOB_ID, name="Latido del programador", coalesce=True,
        misfire_grace_time=HEARTBEAT_SECONDS, max_instances=1, next_run_time=utcnow())
    return scheduler


def _heartbeat_since(started_at: Any) -> Callable[[Flask], None]:
    def beat(app: Flask) -> None:
        heartbeat_job(app, started_at)
    return beat


# --- one scheduler per database -----------------------------------------------------------


class SchedulerLock:
    """The process-lifetime lock that keeps a second scheduler from running jobs."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._engine: Engine | None = None
        self._connection: Connection | None = None
        self._file: int | None = None
        self._confirming = threading.Lock()

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    def _sqlite_lock_path(self) -> Path | None:
        engine = make_engine(self.database_url)
        database = engine.url.database
        engine.dispose()
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            return None
        return Path(f"{Path(database).resolve()}.scheduler-lock")

    def acquire(self) -> bool:
        """Take the lock if nobody holds it. Never blocks."""
        if self.held:
            return True
        if self.database_url.startswith("postgresql"):
            return self._acquire_postgres()
        return self._acquire_file()

    def _acquire_postgres(self) -> bool:
        # Its own engine without a pool: closing the connection must really end the
        # PostgreSQL session (and so the lock), not park it in a pool still locked.
        engine = make_engine(self.database_url, poolclass=NullPool)
        connection = engine.connect()
        got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                      {"key": SCHEDULER_LOCK_KEY}).scalar())
        connection.commit()  # session-level lock: it survives the transaction's end
        if not got:
            connection.close()
            engine.dispose()
            return False
        self._engine, self._connection = engine, connection
        return True

    def _acquire_file(self) -> bool:
        import fcntl

        path = self._sqlite_lock_path()
        if path is None:  # an in-memory database lives and dies with this one process
            self._file = -1
            return True
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        self._file = descriptor
        return True

    def confirm(self) -> bool:
        """Whether this process still holds the lock. When its PostgreSQL session ended (a
        restart, a failover, ``pg_terminate_backend``) the lock ended with it: re-take it if
        nobody else did meanwhile. Never blocks; safe from several job threads at once."""
        with self._confirming:
            if self._file is not None:  # a flock lasts as long as its descriptor
                return True
            if self._connection is not None:
                try:
                    still = bool(self._connection.execute(_HOLDS_LOCK, {
                        "high": SCHEDULER_LOCK_KEY >> 32,
                        "low": SCHEDULER_LOCK_KEY & 0xFFFFFFFF}).scalar())
                    self._connection.commit()
                except DBAPIError:  # the session is gone, and its lock with it
                    still = False
                if still:
                    return True
                log.warning("El programador de tareas perdió su conexión con la base de datos: "
                            "intenta tomar de nuevo su candado.")
                self._drop()
            try:
                return self.acquire()
            except DBAPIError:  # the database is still unreachable: not held, for now
                return False

    def _drop(self) -> None:
        """Forget a PostgreSQL session whose lock is gone (closing it may fail: it is dead)."""
        connection, engine = self._connection, self._engine
        self._connection = self._engine = None
        if connection is not None:
            with contextlib.suppress(DBAPIError):
                connection.close()
        if engine is not None:
            engine.dispose()

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                         {"key": SCHEDULER_LOCK_KEY})
                self._connection.commit()
            except DBAPIError:  # the session already ended: so did its lock
                pass
            finally:
                self._drop()
        if self._file is not None:
            if self._file >= 0:
                os.close(self._file)  # closing the descriptor releases the flock
            self._file = None


# --- the process --------------------------------------------------------------------------


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    # ``make run`` stops its background processes with TERM: leave like Ctrl-C does.
    raise KeyboardInterrupt


def guarded(job: Callable[[Flask], None], lock: SchedulerLock, lost: threading.Event,
            stop: Callable[[], None]) -> Callable[[Flask], None]:
    """``job``, run only after ``lock.confirm()``; a lock another scheduler holds now sets
    ``lost`` and stops this scheduler instead."""
    def run(app: Flask) -> None:
        if lost.is_set():
            return
        if not lock.confirm():
            lost.set()
            log.error(LOST_LOCK)
            stop()
            return
        job(app)
    run.__name__ = getattr(job, "__name__", "job")
    return run


def _run_until_stopped(app: Flask, lock: SchedulerLock, hour: int,
                       echo: Callable[[str], None]) -> bool:
    """Run the jobs while the lock is held; True when stopped because the lock was lost."""
    from jobs.daily import catch_up
    from jobs.pendientes import catch_up_digest

    lost = threading.Event()
    holder: list[BlockingScheduler] = []

    def stop() -> None:
        holder[0].shutdown(wait=False)

    scheduler = build_scheduler(app, **{
        name: guarded(job, lock, lost, stop)
        for name, job in (("daily", daily_job), ("deliver", delivery_job),
                          ("export", export_job), ("digest", digest_job),
                          ("heartbeat", _heartbeat_since(utcnow())))})
    holder.append(scheduler)
    echo(f"Programador de tareas iniciado (America/Bogota): recordatorios cada día a las "
         f"{hour:02d}:00, resumen de pendientes los lunes a las {hour:02d}:30, correo "
         "saliente cada minuto. Detenga con Ctrl-C.")
    catch_up(app, now=utcnow(), hour=hour)
    catch_up_digest(app, now=utcnow(), hour=hour)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        scheduler.start()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if scheduler.running:
            scheduler.shutdown(wait=False)
    return lost.is_set()


def run_scheduler(app: Flask, *, wait: bool = False,
                  echo: Callable[[str], None] = click.echo) -> int:
    """Hold the lock, catch up today's pass if it was missed, then run the jobs until
    stopped. Returns the exit code: 0 when stopped or when another scheduler runs, 1 when
    the lock was lost to another scheduler (unless ``wait``: then it waits again)."""
    hour = reminder_hour(app.config)
    lock = SchedulerLock(app.config["DATABASE_URL"])
    try:
        while True:
            if not lock.acquire():
                if not wait:
                    echo(ALREADY_RUNNING)
                    return 0
                echo(STANDBY)
                while not lock.confirm():
                    time.sleep(WAIT_POLL_SECONDS)
            if not _run_until_stopped(app, lock, hour, echo):
                echo("Programador de tareas detenido.")
                return 0
            echo(LOST_LOCK)
            lock.release()
            if not wait:
                return 1
    finally:
        lock.release()


@click.command("scheduler")
@click.option("--esperar", "wait", is_flag=True,
              help="Si ya hay otro programador en ejecución, esperar a que termine en vez de "
                   "salir.")
@with_appcontext
def scheduler_command(wait: bool) -> None:
    """Run the periodic jobs (reminders, outbox delivery) until stopped: one per database."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    raise SystemExit(run_scheduler(app, wait=wait))
