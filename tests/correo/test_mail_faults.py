"""Mail under faults, against real SMTP servers on loopback (aiosmtpd): a server that is down
and comes back, one that gives up after k messages, a deliverer killed mid-batch, and the
daily pass at the edge of a deadline and on a machine whose clock says UTC.

Times are passed in (``now=``): no job here reads the clock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time as clock
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from demo.calendario import seed_demo_calendar
from jobs.daily import catch_up, run_daily_pass
from jobs.deliver import deliver_pending
from jobs.scheduler import DAILY_JOB_ID, build_scheduler
from ruta import create_app
from tests.conftest import Factory, app_config, machine_timezone
from tests.correo.test_delivery import (
    NOW,
    deliver_to,
    queue,
    reload,
)
from tests.correo.test_reminders import on_time
from tests.smtp import (
    LOOPBACK,
    RecordingHandler,
    RefuseAfterHandler,
    SlowHandler,
    SmtpServer,
    closed_port,
    mail_config,
    smtp_server,
)
from workflow.dates import BOGOTA
from workflow.horizontes.models import ReminderSent
from workflow.models import OutboxMessage, OutboxStatus
from workflow.roles import Role
from workflow.states import State

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """conftest's app, with mail really sent (to a closed port until a test says where)."""
    application = create_app(app_config(database_url, **mail_config()))
    yield application
    application.extensions["ruta_db"].dispose()


def message_id(row_id: int) -> str:
    return f"<ruta-correo-{row_id}@ruta.prueba.co>"


def arrivals(server: SmtpServer) -> Counter[str]:
    """How many times each Message-ID reached the server."""
    return Counter(received.header("Message-ID") for received in server.received)


@contextmanager
def smtp_server_on(port: int, handler: RecordingHandler) -> Iterator[SmtpServer]:
    """A server on a given port: the one the deliverer found closed a moment ago."""
    controller = Controller(handler, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        yield SmtpServer(LOOPBACK, port, handler)
    finally:
        controller.stop()


def statuses(db: Session, ids: list[int]) -> list[tuple[OutboxStatus, int]]:
    return [(row.status, row.attempts) for row in (reload(db, row_id) for row_id in ids)]


# --- (a) the server is down during a run, then comes back ---------------------------------


def test_server_down_loses_nothing_and_delivers_each_message_once_when_back(
        app: Flask, db: Session, make: Factory) -> None:
    ids = [queue(db, make, to=(f"rector{number}@prueba.co",)) for number in range(6)]
    port = closed_port()
    deliver_to(app, None, MAIL_PORT=port, MAIL_BATCH_SIZE=4)

    down = deliver_pending(app, now=NOW)

    # The first batch counts an attempt; the run stops there, so the rest wait untouched.
    assert (down.claimed, down.retrying, down.sent, down.unreachable) == (4, 4, 0, True)
    assert statuses(db, ids) == [(OutboxStatus.PENDING, 1)] * 4 + [(OutboxStatus.PENDING, 0)] * 2
    assert [reload(db, row_id).next_attempt_at for row_id in ids] == (
        [NOW + timedelta(minutes=1)] * 4 + [NOW] * 2)

    with smtp_server_on(port, RecordingHandler()) as server:
        early = deliver_pending(app, now=NOW + timedelta(seconds=30))
        early_arrivals = arrivals(server)
        back = deliver_pending(app, now=NOW + timedelta(minutes=1))
        later = deliver_pending(app, now=NOW + timedelta(hours=6))
        received = arrivals(server)

    # 30 s later the server is up: the two never tried go; the four wait out their backoff.
    assert (early.claimed, early.sent) == (2, 2)
    assert early_arrivals == Counter({message_id(ids[4]): 1, message_id(ids[5]): 1})
    assert (back.claimed, back.sent, back.retrying, later.claimed) == (4, 4, 0, 0)
    assert received == Counter({message_id(row_id): 1 for row_id in ids})
    assert statuses(db, ids) == [(OutboxStatus.SENT, 2)] * 4 + [(OutboxStatus.SENT, 1)] * 2
    assert [reload(db, row_id).sent_at for row_id in ids] == (
        [NOW + timedelta(minutes=1)] * 4 + [NOW + timedelta(seconds=30)] * 2)


# --- (b) the server accepts k messages, then refuses --------------------------------------


REFUSAL_ERRORS = {
    "421": "El servidor de correo no aceptó el envío. 421 4.3.2 Service not available, "
           "closing transmission channel",
    "close": "El servidor de correo no aceptó el envío. SMTPServerDisconnected: Connection "
             "unexpectedly closed",
}


@pytest.mark.parametrize("how", ["421", "close"])
def test_server_refusing_after_k_messages_never_gets_the_first_k_again(
        app: Flask, db: Session, make: Factory, how: str) -> None:
    ids = [queue(db, make, to=(f"rector{number}@prueba.co",)) for number in range(7)]
    accepted = 3
    handler = RefuseAfterHandler(accept=accepted, how=how)
    with smtp_server(handler) as server:
        deliver_to(app, server)
        refused = deliver_pending(app, now=NOW)
        after_refusal = arrivals(server)
        refused_rows = statuses(db, ids)
        refused_error = reload(db, ids[3]).last_error
        # Still refusing a minute later: the rest wait again, the first k are not touched.
        still = deliver_pending(app, now=NOW + timedelta(minutes=1))
        handler.reopen()
        early = deliver_pending(app, now=NOW + timedelta(minutes=2))
        back = deliver_pending(app, now=NOW + timedelta(minutes=3))
        later = deliver_pending(app, now=NOW + timedelta(days=1))
        received = arrivals(server)
        refusals = handler.refusals

    assert (refused.claimed, refused.sent, refused.retrying, refused.failed,
            refused.unknown) == (7, 3, 4, 0, 0)
    assert after_refusal == Counter({message_id(row_id): 1 for row_id in ids[:accepted]})
    assert refused_rows == [(OutboxStatus.SENT, 1)] * 3 + [(OutboxStatus.PENDING, 1)] * 4
    assert refused_error == REFUSAL_ERRORS[how]
    assert (still.claimed, still.sent, still.retrying) == (4, 0, 4)
    # Two failed attempts: the next is due 2 minutes after the second (NOW + 1 min + 2 min).
    assert (early.claimed, back.claimed, back.sent, later.claimed) == (0, 4, 4, 0)
    assert received == Counter({message_id(row_id): 1 for row_id in ids})
    assert refusals == 8
    assert statuses(db, ids) == [(OutboxStatus.SENT, 1)] * 3 + [(OutboxStatus.SENT, 3)] * 4
    assert [reload(db, row_id).sent_at for row_id in ids] == (
        [NOW] * 3 + [NOW + timedelta(minutes=3)] * 4)


# --- (c) a deliverer killed mid-batch -----------------------------------------------------

# A real deliverer in its own process: the app on the test's database, delivering at ``now``.
DELIVERER = """
import json, sys
from datetime import datetime
from jobs.deliver import deliver_pending
from ruta import create_app
config, now = json.loads(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
deliver_pending(create_app(config), now=now)
"""


def wait_until(condition: object, *, seconds: float, process: subprocess.Popen[str]) -> None:
    deadline = clock.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if process.poll() is not None:
            raise AssertionError(f"the deliverer ended early:\n{process.communicate()[1]}")
        if clock.monotonic() > deadline:
            raise AssertionError("the deliverer did not get that far in time")
        clock.sleep(0.01)


def test_deliverer_killed_mid_batch_sends_nothing_twice_after_restart(
        app: Flask, db: Session, make: Factory, database_url: str) -> None:
    ids = [queue(db, make, to=(f"rector{number}@prueba.co",)) for number in range(10)]
    # Batches of three: 1-3, then 4-6 claimed when the 4th message reaches the server, which
    # keeps it and never answers; the deliverer is killed while it waits for that answer.
    handler = SlowHandler(delay=0.05, hold_at=4)
    with smtp_server(handler) as server:
        # One deliverer, so its batches go in order (several split the rows between them).
        config = app_config(database_url, **mail_config(server, MAIL_BATCH_SIZE=3,
                                                        MAIL_STALE_CLAIM_MINUTES=30,
                                                        MAIL_DELIVERY_WORKERS=1))
        process = subprocess.Popen(
            [sys.executable, "-c", DELIVERER, json.dumps(config), NOW.isoformat()],
            cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: len(server.received) == 4, seconds=60, process=process)
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=30) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.communicate()
        killed_rows = statuses(db, ids)

        # Restarted before the claims are stale: the claimed rows are left alone.
        deliver_to(app, server, MAIL_BATCH_SIZE=3, MAIL_STALE_CLAIM_MINUTES=30,
                   MAIL_DELIVERY_WORKERS=1)
        too_soon = deliver_pending(app, now=NOW + timedelta(minutes=29))
        stale = deliver_pending(app, now=NOW + timedelta(minutes=31))
        received = arrivals(server)

    assert killed_rows == ([(OutboxStatus.SENT, 1)] * 3 + [(OutboxStatus.SENDING, 0)] * 3
                           + [(OutboxStatus.PENDING, 0)] * 4)
    # The rest (7-10) go as soon as the deliverer is back; the claimed 4-6 wait for staleness.
    assert (too_soon.recovered, too_soon.claimed, too_soon.sent) == (0, 4, 4)
    # Stale claims: the 4th was handed to the server (its DATA in flight, and it is in a
    # mailbox) and becomes unknown, not resent; the 5th and 6th were never handed over: they
    # go back to the queue and are sent, once.
    assert (stale.recovered, stale.requeued, stale.claimed, stale.sent) == (1, 2, 2, 2)
    assert received == Counter({message_id(row_id): 1 for row_id in ids})
    assert statuses(db, ids) == ([(OutboxStatus.SENT, 1)] * 3 + [(OutboxStatus.UNKNOWN, 1)]
                                 + [(OutboxStatus.SENT, 1)] * 6)
    assert reload(db, ids[3]).last_error == (
        "El proceso de envío se interrumpió con el mensaje en curso; puede haber llegado, por "
        "eso no se reenvía solo.")
    assert [reload(db, row_id).sent_at for row_id in ids] == (
        [NOW] * 3 + [None] + [NOW + timedelta(minutes=31)] * 2
        + [NOW + timedelta(minutes=29)] * 4)


# --- (d) the daily pass at the edge of the PMI deadline -----------------------------------


def bogota(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=BOGOTA).astimezone(UTC)


@pytest.fixture
def machine_in_utc() -> Iterator[None]:
    """The process's local timezone is UTC, as on most servers (Bogotá is UTC−5)."""
    with machine_timezone("UTC"):
        yield


def test_pmi_deadline_day_ends_at_midnight_in_bogota_not_in_utc(
        app: Flask, db: Session, make: Factory, machine_in_utc: None) -> None:
    calendar = seed_demo_calendar(db, make.secretaria())
    deadline = calendar.pmi_deadline
    ruta = make.ruta(state=State.BORRADOR)
    rector = make.user(Role.RECTOR, school=ruta.school)
    on_time(ruta, rector)
    db.commit()
    assert deadline == date(2024, 2, 16)
    last_minute = bogota(deadline, 23, 59)
    just_after = bogota(deadline + timedelta(days=1), 0, 0, 30)
    assert last_minute == datetime(2024, 2, 17, 4, 59, tzinfo=UTC)  # already the 17th in UTC
    assert just_after == datetime(2024, 2, 17, 5, 0, 30, tzinfo=UTC)

    on_the_day = run_daily_pass(app, now=last_minute)
    next_day = run_daily_pass(app, now=just_after)

    assert (on_the_day.day, on_the_day.ran) == (deadline, True)
    assert [(item.ruta_id, item.rule.value, item.occurrence_key)
            for item in on_the_day.queued] == [(ruta.id, "pmi_proximo", "horizonte-2024")]
    assert on_the_day.queued[0].summary == (
        "El plazo del PMI vence el 16 de febrero de 2024: hoy vence.")
    assert (next_day.day, next_day.ran) == (date(2024, 2, 17), True)
    assert [(item.ruta_id, item.rule.value, item.occurrence_key, item.to)
            for item in next_day.queued] == [(ruta.id, "pmi_vencido", "2024-W07",
                                              [rector.email])]
    db.expire_all()
    assert [(row.rule, row.day) for row in db.scalars(
        select(ReminderSent).order_by(ReminderSent.id))] == [
        ("pmi_proximo", date(2024, 2, 16)), ("pmi_vencido", date(2024, 2, 17))]
    assert [(row.kind, row.next_attempt_at) for row in db.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id))] == [
        ("recordatorio_pmi_proximo", last_minute), ("recordatorio_pmi_vencido", just_after)]


# --- the scheduler on a machine in UTC -----------------------------------------------------


def test_scheduler_on_a_utc_machine_fires_the_seven_oclock_pass_at_seven_in_bogota(
        app: Flask, db: Session, make: Factory, machine_in_utc: None) -> None:
    seed_demo_calendar(db, make.secretaria())
    ruta = make.ruta(state=State.BORRADOR)
    on_time(ruta, make.user(Role.RECTOR, school=ruta.school))
    db.commit()
    app.config["REMINDER_HOUR"] = 7
    daily = build_scheduler(app).get_job(DAILY_JOB_ID)
    monday = date(2024, 1, 22)

    # From 19:30 of the 21st in Bogotá (00:30 UTC of the 22nd), the next pass is 07:00 of the
    # 22nd in Bogotá: 12:00 UTC, not 07:00 UTC.
    fire_at = daily.trigger.get_next_fire_time(None, datetime(2024, 1, 22, 0, 30, tzinfo=UTC))

    assert fire_at == datetime(2024, 1, 22, 12, 0, tzinfo=UTC)
    assert fire_at.astimezone(BOGOTA).hour == 7
    # At 07:00 UTC (02:00 in Bogotá) a scheduler starting up has nothing to catch up yet.
    assert catch_up(app, now=datetime(2024, 1, 22, 7, 0, tzinfo=UTC), hour=7) is None
    assert catch_up(app, now=bogota(monday, 6, 59, 59), hour=7) is None
    caught = catch_up(app, now=bogota(monday, 7), hour=7)
    assert caught is not None
    assert (caught.day, caught.ran, [item.rule.value for item in caught.queued]) == (
        monday, True, ["pmi_pendiente"])
