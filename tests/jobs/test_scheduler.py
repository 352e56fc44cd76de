"""The scheduler process: its jobs in America/Bogota, one scheduler per database, the daily
pass run once per day, ``ruta jobs run-once``, and the local SMTP sink of ``make run``."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time as clock
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from demo.calendario import seed_demo_calendar
from jobs.daily import FORM_TOKEN_RETENTION, catch_up, run_daily_pass
from jobs.deliver import deliver_pending
from jobs.scheduler import (
    ALREADY_RUNNING,
    CONSOLIDADO_JOB_ID,
    DAILY_JOB_ID,
    DAILY_MISFIRE_GRACE_SECONDS,
    DELIVERY_JOB_ID,
    DIGEST_JOB_ID,
    EXPORT_JOB_ID,
    HEARTBEAT_JOB_ID,
    SCHEDULER_LOCK_KEY,
    SchedulerLock,
    build_scheduler,
    run_scheduler,
)
from ruta.config import ConfigError
from ruta.db import make_engine
from tests.conftest import Factory, machine_timezone
from tests.correo.test_reminders import on_time
from tests.seguimiento.test_seguimiento import build_plan
from workflow import form_tokens, outbox
from workflow.dates import BOGOTA
from workflow.horizontes.horizons import open_horizon
from workflow.horizontes.models import JobRun, ReminderSent
from workflow.models import FormSubmission, OutboxMessage, OutboxStatus, Secretaria
from workflow.roles import Role
from workflow.states import State

PROJECT = Path(__file__).resolve().parents[2]
RUTA = Path(sys.executable).parent / "ruta"


def bogota(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=BOGOTA).astimezone(UTC)


@pytest.fixture
def tokyo_machine() -> Iterator[None]:
    """The machine's local timezone is not Bogotá's (the scheduler must not care)."""
    with machine_timezone("Asia/Tokyo"):
        yield


# --- jobs and triggers --------------------------------------------------------------------


def test_scheduler_jobs_run_in_bogota_whatever_the_machines_timezone(
        app: Flask, tokyo_machine: None) -> None:
    scheduler = build_scheduler(app)
    jobs = {job.id: job for job in scheduler.get_jobs()}

    assert sorted(jobs) == sorted([DELIVERY_JOB_ID, EXPORT_JOB_ID, HEARTBEAT_JOB_ID,
                                   DAILY_JOB_ID, DIGEST_JOB_ID, CONSOLIDADO_JOB_ID])
    # The consolidado's figures: a quarter of an hour after the daily pass, in Bogotá.
    consolidado = jobs[CONSOLIDADO_JOB_ID]
    assert consolidado.trigger.get_next_fire_time(
        None, datetime(2024, 1, 22, 0, 30, tzinfo=UTC)) == datetime(2024, 1, 22, 11, 15,
                                                                     tzinfo=UTC)
    assert (consolidado.coalesce, consolidado.misfire_grace_time) == (
        True, DAILY_MISFIRE_GRACE_SECONDS)
    assert jobs[HEARTBEAT_JOB_ID].trigger.interval.total_seconds() == 30
    assert str(scheduler.timezone) == "America/Bogota"
    daily, delivery = jobs[DAILY_JOB_ID], jobs[DELIVERY_JOB_ID]
    assert str(daily.trigger.timezone) == "America/Bogota"
    assert str(delivery.trigger.timezone) == "America/Bogota"
    after = datetime(2024, 1, 22, 0, 30, tzinfo=UTC)  # 19:30 of the 21st in Bogotá
    assert daily.trigger.get_next_fire_time(None, after) == datetime(
        2024, 1, 22, 11, 0, tzinfo=UTC)
    assert daily.trigger.get_next_fire_time(None, after).astimezone(BOGOTA).hour == 6
    assert (daily.coalesce, daily.misfire_grace_time, daily.max_instances) == (
        True, DAILY_MISFIRE_GRACE_SECONDS, 1)
    assert DAILY_MISFIRE_GRACE_SECONDS == 23 * 3600
    assert (delivery.coalesce, delivery.misfire_grace_time, delivery.max_instances) == (
        True, 60, 1)
    assert delivery.trigger.interval.total_seconds() == 60
    assert daily.args == (app,) and delivery.args == (app,)
    assert not scheduler.running


def test_scheduler_daily_pass_follows_reminder_hour(app: Flask) -> None:
    app.config["REMINDER_HOUR"] = 7
    daily = build_scheduler(app).get_job(DAILY_JOB_ID)
    assert daily.trigger.get_next_fire_time(None, datetime(2024, 1, 22, 11, 30, tzinfo=UTC)) \
        == datetime(2024, 1, 22, 12, 0, tzinfo=UTC)
    assert daily.trigger.get_next_fire_time(None, datetime(2024, 1, 22, 12, 30, tzinfo=UTC)) \
        == datetime(2024, 1, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("hour", [24, -1, "seis"])
def test_scheduler_refuses_an_impossible_reminder_hour(app: Flask, hour: object) -> None:
    app.config["REMINDER_HOUR"] = hour
    with pytest.raises(ConfigError) as refused:
        build_scheduler(app)
    assert str(refused.value) == f"REMINDER_HOUR debe ser una hora entre 0 y 23; vale «{hour}»."


# --- one scheduler per database -----------------------------------------------------------


def test_scheduler_lock_two_attempts_one_wins(database_url: str) -> None:
    first, second = SchedulerLock(database_url), SchedulerLock(database_url)
    try:
        assert first.acquire() is True
        assert second.acquire() is False
        assert second.acquire() is False
        first.release()
        assert second.acquire() is True
        assert first.acquire() is False
    finally:
        first.release()
        second.release()


def test_scheduler_second_one_exits_with_a_spanish_message(app: Flask) -> None:
    holder = SchedulerLock(app.config["DATABASE_URL"])
    assert holder.acquire()
    said: list[str] = []
    try:
        assert run_scheduler(app, echo=said.append) == 0
    finally:
        holder.release()
    assert said == [ALREADY_RUNNING]


def test_scheduler_command_second_process_does_no_harm(database_url: str,
                                                       tmp_path: Path) -> None:
    environment = {**os.environ, "RUTA_ENV": "development", "DATABASE_URL": database_url,
                   "MAIL_PORT": str(free_port()), "TZ": "Asia/Tokyo"}
    first = subprocess.Popen([str(RUTA), "scheduler"], cwd=tmp_path, env=environment,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = LineReader(first)
    try:
        started = lines.wait_for("Programador de tareas iniciado")
        assert started == ("Programador de tareas iniciado (America/Bogota): recordatorios cada "
                           "día a las 06:00, resumen de pendientes los lunes a las 06:30, correo "
                           "saliente cada minuto. Detenga con Ctrl-C.")
        second = subprocess.run([str(RUTA), "scheduler"], cwd=tmp_path, env=environment,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 0
        assert second.stdout.strip() == ALREADY_RUNNING
        assert first.poll() is None  # the first one keeps running
        first.send_signal(signal.SIGTERM)  # what ``make run``'s trap sends
        assert first.wait(timeout=30) == 0
        assert lines.wait_for("Programador de tareas detenido.") == \
            "Programador de tareas detenido."
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        lines.close()


# --- the daily pass: once per day ---------------------------------------------------------


@pytest.fixture
def owed(db: Session, make: Factory) -> list[tuple[str, str, int]]:
    """The 2024 calendar and two Rutas that owe their PMI: (school, rector, Ruta id)."""
    secretaria = make.secretaria()
    seed_demo_calendar(db, secretaria)
    rows = []
    for name, state in (("Institución Educativa San Simón", State.BORRADOR),
                        ("Institución Educativa Rural Juntas", State.AUTOEVALUACION_ENVIADA)):
        school = make.school(secretaria, name=name)
        ruta = make.ruta(school, state=state)
        rector = make.user(Role.RECTOR, school=school)
        on_time(ruta, rector)
        rows.append((name, rector.email, ruta.id))
    db.commit()
    return rows


def test_run_daily_pass_runs_once_per_day(app: Flask, db: Session,
                                          owed: list[tuple[str, str, int]]) -> None:
    first = run_daily_pass(app, now=bogota(date(2024, 1, 22), 6))
    again = run_daily_pass(app, now=bogota(date(2024, 1, 22), 18))

    assert (first.day, first.ran, len(first.queued)) == (date(2024, 1, 22), True, 2)
    assert (again.day, again.ran, again.queued) == (date(2024, 1, 22), False, [])
    run = db.scalars(select(JobRun)).one()
    assert (run.job, run.day, run.queued) == ("recordatorios", date(2024, 1, 22), 2)
    assert run.finished_at == bogota(date(2024, 1, 22), 6)


def test_run_daily_pass_forgets_form_tokens_older_than_the_retention(
        app: Flask, db: Session, make: Factory, owed: list[tuple[str, str, int]]) -> None:
    rector = make.user(Role.RECTOR)
    now = bogota(date(2024, 1, 22), 6)
    old, kept = form_tokens.new_token(), form_tokens.new_token()
    form_tokens.claim(db, old, user=rector, now=now - FORM_TOKEN_RETENTION - timedelta(hours=1))
    form_tokens.claim(db, kept, user=rector, now=now - FORM_TOKEN_RETENTION + timedelta(hours=1))
    db.commit()

    result = run_daily_pass(app, now=now)

    assert result.forgotten_tokens == 1
    db.expire_all()
    assert db.scalars(select(FormSubmission.token)).all() == [kept]


def test_run_daily_pass_day_is_bogotas_not_utcs(app: Flask, owed: list[tuple[str, str, int]]
                                                ) -> None:
    # 02:00 UTC on the 22nd is still 21:00 of the 21st in Bogotá.
    result = run_daily_pass(app, now=datetime(2024, 1, 22, 2, 0, tzinfo=UTC))
    assert result.day == date(2024, 1, 21)


def test_catch_up_at_startup_runs_a_missed_pass_once(app: Flask, db: Session,
                                                     owed: list[tuple[str, str, int]]) -> None:
    day = date(2024, 1, 22)
    assert catch_up(app, now=bogota(day, 5), hour=6) is None  # before the hour: the job will
    assert db.scalar(select(func.count()).select_from(JobRun)) == 0

    late = catch_up(app, now=bogota(day, 9), hour=6)  # down at 06:00, started at 09:00

    assert late is not None and (late.day, late.ran, len(late.queued)) == (day, True, 2)
    assert catch_up(app, now=bogota(day, 10), hour=6) is None
    assert db.scalar(select(func.count()).select_from(ReminderSent)) == 2


def test_run_once_prints_what_it_queued(app: Flask, owed: list[tuple[str, str, int]]) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["jobs", "run-once", "--as-of", "2024-01-22"])
    assert result.exit_code == 0, result.output
    (first_school, first_rector, first_id), (second_school, second_rector, second_id) = owed
    assert result.output == (
        "Pasada diaria del 2024-01-22 (America/Bogota):\n"
        f"  PMI pendiente de reporte: {first_school} (Ruta {first_id}) → {first_rector}\n"
        f"  PMI pendiente de reporte: {second_school} (Ruta {second_id}) → {second_rector}\n"
        "2 recordatorio(s) encolado(s).\n")

    again = runner.invoke(args=["jobs", "run-once", "--as-of", "2024-01-22"])
    assert again.exit_code == 0
    assert again.output == ("La pasada diaria del 2024-01-22 ya se había ejecutado: no se "
                            "encoló nada.\n")


def test_run_once_before_the_week_ends_queues_nothing(
        app: Flask, owed: list[tuple[str, str, int]]) -> None:
    result = app.test_cli_runner().invoke(args=["jobs", "run-once", "--as-of", "2024-01-18"])
    assert result.output == ("Pasada diaria del 2024-01-18 (America/Bogota):\n"
                             "0 recordatorio(s) encolado(s).\n")


def test_run_once_starts_the_approved_plans_whose_start_date_came(
        app: Flask, db: Session, make: Factory) -> None:
    plan = build_plan(make, State.APROBADO)  # its first actividad starts on 2024-02-01
    runner = app.test_cli_runner()
    before = runner.invoke(args=["jobs", "run-once", "--as-of", "2024-01-31"])
    assert "iniciaron su seguimiento" not in before.output

    result = runner.invoke(args=["jobs", "run-once", "--as-of", "2024-02-01"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"1 plan(es) aprobado(s) iniciaron su seguimiento (Rutas {plan.ruta.id}).\n")
    db.expire_all()
    assert plan.ruta.state is State.SEGUIMIENTO
    assert plan.ruta.transitions[-1].actor_id is None  # the system, not a person


def test_daily_pass_makes_the_next_horizon_current_on_its_first_day(
        app: Flask, db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    open_horizon(db, secretaria, "2027", actor=None)
    db.commit()

    last_day = run_daily_pass(app, now=bogota(date(2026, 12, 31), 6))
    assert last_day.advanced == []
    db.expire_all()
    assert db.get(Secretaria, secretaria.id).horizon_start_year == 2024

    runner = app.test_cli_runner()
    result = runner.invoke(args=["jobs", "run-once", "--as-of", "2027-01-01"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "Horizonte vigente desde hoy: Secretaría de Educación de Ibagué: 2027–2029.")
    db.expire_all()
    moved = db.get(Secretaria, secretaria.id)
    assert (moved.horizon_start_year, moved.horizon_years) == (2027, 3)
    # Idempotent: the day's second pass (and the next day's) move nothing.
    assert run_daily_pass(app, now=bogota(date(2027, 1, 1), 18)).advanced == []
    assert run_daily_pass(app, now=bogota(date(2027, 1, 2), 6)).advanced == []


def test_run_once_refuses_an_impossible_date(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["jobs", "run-once", "--as-of", "2024-02-30"])
    assert result.exit_code == 2
    assert "«2024-02-30» no es una fecha AAAA-MM-DD, por ejemplo 2024-01-22." in result.output


# --- the SMTP sink of ``make run`` --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LineReader:
    """Reads a subprocess's output in a thread, so waiting for a line can time out."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stream = process.stdout

        def pump() -> None:
            for line in stream:
                self.lines.put(line.rstrip("\n"))

        self.stream = stream
        self.thread = threading.Thread(target=pump, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """After the process ended: the pump has read to the end, the pipe can close."""
        self.thread.join(timeout=10)
        self.stream.close()

    def wait_for(self, start: str, timeout: float = 30) -> str:
        deadline = clock.monotonic() + timeout
        seen = []
        while clock.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(deadline - clock.monotonic(), 0.01))
            except queue.Empty:
                break
            seen.append(line)
            if line.startswith(start):
                return line
        raise AssertionError(f"no line starting with {start!r}; got {seen!r}")


def test_smtp_sink_receives_and_keeps_a_delivered_reminder(
        app: Flask, db: Session, owed: list[tuple[str, str, int]], tmp_path: Path) -> None:
    port = free_port()
    folder = tmp_path / "correo"
    sink = subprocess.Popen(
        [sys.executable, "-m", "jobs.smtp_sink", "--port", str(port), "--dir", str(folder)],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = LineReader(sink)
    try:
        assert lines.wait_for("Servidor SMTP") == (
            f"Servidor SMTP de prueba escuchando en 127.0.0.1:{port}; guarda los mensajes en "
            f"{folder}")
        school, rector, ruta_id = owed[0]
        assert outbox.enqueue(
            db, kind="recordatorio_pmi_pendiente", to=[rector], cc=["revisor@ibague.gov.co"],
            dedupe_key="prueba:sumidero", secretaria_id=1, ruta_id=ruta_id,
            context={"secretaria_name": "Secretaría de Educación de Ibagué",
                     "school_name": school, "dane_code": "173001000001",
                     "rector_name": "Rectora", "horizon": "2024–2026",
                     "state_label": "Autoevaluación en curso", "deadline": "16 de febrero de 2024",
                     "ruta_url": f"http://127.0.0.1:5000/rutas/{ruta_id}"})
        db.commit()
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False,
                          MAIL_USE_SSL=False, MAIL_SUPPRESS_SEND=False)

        report = deliver_pending(app)

        assert (report.sent, report.failed, report.retrying, report.unknown) == (1, 0, 0, 0)
        received = lines.wait_for("Correo recibido")
        subject = f"Recordatorio: el PMI de {school} vence el 16 de febrero de 2024"
        expected = (
            f"Correo recibido para {rector}, revisor@ibague.gov.co: «{subject}» → {folder}/")
        assert received[:len(expected)] == expected
        [stored] = sorted(folder.glob("*.eml"))
        message = message_from_bytes(stored.read_bytes(), policy=policy.default)
        assert message["X-Recibido-Para"] == f"{rector}, revisor@ibague.gov.co"
        assert message["Subject"] == subject
        assert message["To"] == rector
        db.expire_all()
        assert db.scalars(select(OutboxMessage.status)).one() is OutboxStatus.SENT

        sink.send_signal(signal.SIGTERM)
        assert sink.wait(timeout=30) == 0
        assert lines.wait_for("Servidor SMTP de prueba detenido.")
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait()
        lines.close()


# --- the lock lost to a PostgreSQL restart ------------------------------------------------


def terminate_lock_holder(database_url: str) -> int:
    """What a PostgreSQL restart or failover does to the scheduler: its session ends. Returns
    how many sessions held the scheduler's lock (and were ended)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1),
                           poolclass=NullPool)
    try:
        with engine.connect() as connection:
            # pg_terminate_backend only signals unless given a timeout: then it waits until
            # the session has ended and released its locks (a test that took the lock right
            # after the bare call could find it still held, under load).
            ended = connection.execute(text(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 30000)) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted AND objid::bigint = :key "
                "AND database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())"), {"key": SCHEDULER_LOCK_KEY}).scalar()
            connection.commit()
    finally:
        engine.dispose()
    return int(ended or 0)


class TakenOver:
    """The scheduler's lock, taken by the test the moment its holder's session ends: the
    test's session waits for the lock (``pg_advisory_lock``, queued behind the holder) before
    the holder is ended, so PostgreSQL grants it to the test first. A running scheduler re-takes
    a lock nobody holds before its next job (``SchedulerLock.confirm``, every heartbeat): a
    test that asked for the lock only after ending the holder raced that, and lost it under
    load."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy import text

        self.engine = make_engine(database_url, poolclass=NullPool)
        self.connection = self.engine.connect()
        pid = self.connection.execute(text("SELECT pg_backend_pid()")).scalar()
        self.connection.commit()
        granted: queue.Queue[BaseException | None] = queue.Queue()

        def wait_for_lock() -> None:
            try:
                self.connection.execute(text("SELECT pg_advisory_lock(:key)"),
                                        {"key": SCHEDULER_LOCK_KEY})
                self.connection.commit()  # a session lock: it outlives the transaction
                granted.put(None)
            except BaseException as failure:  # noqa: BLE001 (handed to the test's thread)
                granted.put(failure)

        waiter = threading.Thread(target=wait_for_lock, daemon=True)
        waiter.start()
        with self.engine.connect() as watcher:
            deadline = clock.monotonic() + 30
            while not watcher.execute(text(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = :pid "
                    "AND locktype = 'advisory' AND NOT granted)"), {"pid": pid}).scalar():
                watcher.rollback()
                assert clock.monotonic() < deadline, "the test's session never queued"
                clock.sleep(0.01)
        self.ended = terminate_lock_holder(database_url)
        failure = granted.get(timeout=30)
        waiter.join(timeout=30)
        if failure is not None:
            raise failure

    def release(self) -> None:
        self.connection.close()  # the session ends, and its lock with it
        self.engine.dispose()


@pytest.mark.postgres
def test_a_lock_whose_session_ended_is_retaken_unless_another_took_it(
        backend: str, database_url: str) -> None:
    if backend != "postgresql":
        pytest.skip("the advisory lock lives in a PostgreSQL session")
    first, second = SchedulerLock(database_url), SchedulerLock(database_url)
    try:
        assert first.acquire() and first.confirm()
        # A restart with nobody else waiting: the scheduler takes its lock again.
        assert terminate_lock_holder(database_url) == 1
        assert first.confirm() is True
        assert second.acquire() is False
        # A restart, and a second scheduler takes the lock first: the first one lost it.
        assert terminate_lock_holder(database_url) == 1
        assert second.acquire() is True
        assert first.confirm() is False
        assert second.confirm() is True
    finally:
        first.release()
        second.release()


@pytest.mark.postgres
def test_a_scheduler_that_lost_its_lock_stops_or_waits_and_two_never_run(
        backend: str, database_url: str, tmp_path: Path) -> None:
    """``pg_terminate_backend`` of the scheduler's session, then a second scheduler: the
    first runs no job more and exits with 1 (or, with ``--esperar``, waits and takes over
    when the second stops)."""
    if backend != "postgresql":
        pytest.skip("the advisory lock lives in a PostgreSQL session")
    environment = {**os.environ, "RUTA_ENV": "development", "DATABASE_URL": database_url,
                   "MAIL_PORT": str(free_port())}
    started = "Programador de tareas iniciado"
    processes: list[tuple[subprocess.Popen[str], LineReader]] = []

    def start(*flags: str) -> LineReader:
        process = subprocess.Popen([str(RUTA), "scheduler", *flags], cwd=tmp_path,
                                   env=environment, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        processes.append((process, LineReader(process)))
        return processes[-1][1]

    lost = "Este programador de tareas perdió su candado"
    try:
        first = start()
        first.wait_for(started)
        # A restart ends the first one's session, and another scheduler takes the lock before
        # the first notices (here the test itself, queued for it, so the order is certain).
        grabbed = TakenOver(database_url)
        assert grabbed.ended == 1
        try:
            second = start("--esperar")
            assert second.wait_for("Ya hay un programador").endswith("para reemplazarlo.")
            # The first one notices before its next job (exports run every 15 s) and leaves.
            assert first.wait_for(lost, timeout=90).endswith("deja de ejecutar tareas.")
            assert processes[0][0].wait(timeout=30) == 1
        finally:
            grabbed.release()
        # The standby takes over once the lock is free.
        second.wait_for(started, timeout=30)
        assert processes[1][0].poll() is None

        # Now the running one (started with --esperar) loses its lock: it goes back to
        # waiting instead of leaving, and takes over again when the lock is free.
        grabbed = TakenOver(database_url)
        assert grabbed.ended == 1
        try:
            assert second.wait_for(lost, timeout=90).endswith("deja de ejecutar tareas.")
            assert second.wait_for("Ya hay un programador").endswith("para reemplazarlo.")
            assert processes[1][0].poll() is None
        finally:
            grabbed.release()
        second.wait_for(started, timeout=30)
        assert processes[1][0].poll() is None
    finally:
        for process, lines in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            lines.close()
