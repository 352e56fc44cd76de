"""A crash loses no mail and sends none twice (issue 16, item 1): ``kill -9`` of the
deliverer at random points over 3,000 queued messages, 20 times, on PostgreSQL, against a real
SMTP server on loopback.

Each row is marked as handed to the server right before its own DATA. After each kill at
most one row (the one in flight) is handed and unrecorded; the rest of the killed batch goes
back to the queue once its claim is stale. In the end every message reached the server
exactly once, except the in-flight ones, which are «incierto» (one per kill at most) and may
or may not have arrived; retried by the administrador (who was warned), they arrive, and only
those may arrive twice.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time as clock
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from jobs.deliver import deliver_pending
from tests.conftest import Factory, app_config
from tests.correo.test_delivery import NOW, deliver_to
from tests.smtp import mail_config, smtp_server
from workflow.correo import delivery
from workflow.models import OutboxMessage, OutboxStatus, User
from workflow.roles import Role

PROJECT = Path(__file__).resolve().parents[2]
MESSAGES = 3000
KILLS = 20
DELIVERER = """
import json, sys
from datetime import datetime
from jobs.deliver import deliver_pending
from ruta import create_app
config, now = json.loads(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
deliver_pending(create_app(config), now=now)
"""
# One deliverer, claims stale at once (each run's clock is a minute after the previous one's).
SETTINGS = {"MAIL_BATCH_SIZE": 50, "MAIL_STALE_CLAIM_MINUTES": 0, "MAIL_DELIVERY_WORKERS": 1}


def count(db: Session, status: OutboxStatus, *, handed: bool | None = None) -> int:
    statement = select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == status)
    if handed is not None:
        statement = statement.where(OutboxMessage.handed_at.is_not(None) if handed
                                    else OutboxMessage.handed_at.is_(None))
    db.expire_all()
    return db.scalar(statement) or 0


def message_id(row_id: int) -> str:
    return f"<ruta-correo-{row_id}@ruta.prueba.co>"


@pytest.mark.postgres
def test_twenty_kills_over_3000_messages_lose_none_and_send_none_twice(
        backend: str, app: Flask, db: Session, make: Factory, database_url: str) -> None:
    if backend != "postgresql":
        pytest.skip("the crash test runs on PostgreSQL, the production database")
    secretaria = make.secretaria()
    admin = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    db.execute(insert(OutboxMessage), [{
        "secretaria_id": secretaria.id, "kind": "pmi_aprobado", "dedupe_key": f"crash:{number}",
        "recipients": [f"rector{number}@prueba.co"], "cc": [], "subject": f"Mensaje {number}",
        "text_body": f"Mensaje número {number}.", "html_body": f"<p>Mensaje {number}.</p>",
        "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": NOW,
        "created_at": NOW, "refused_recipients": {}} for number in range(MESSAGES)])
    db.commit()
    ids = list(db.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
    chance = random.Random(20241)
    in_flight_after_kill = []

    with smtp_server() as server:
        config = app_config(database_url, **mail_config(server, **SETTINGS))
        for kill in range(KILLS):
            sent_before = count(db, OutboxStatus.SENT)
            target = sent_before + chance.randint(1, 120)
            process = subprocess.Popen(
                [sys.executable, "-c", DELIVERER, json.dumps(config),
                 (NOW + timedelta(minutes=kill)).isoformat()],
                cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)},
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                deadline = clock.monotonic() + 120
                while count(db, OutboxStatus.SENT) < target and process.poll() is None:
                    assert clock.monotonic() < deadline, "the deliverer made no progress"
                    clock.sleep(0.002)
                # A random moment inside a batch: between two rows, in the envelope, in DATA.
                clock.sleep(chance.uniform(0, 0.02))
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                _, errors = process.communicate()
            assert "Traceback" not in errors, errors
            in_flight_after_kill.append(count(db, OutboxStatus.SENDING, handed=True))

        # Back after the crashes: one last run delivers the rest.
        deliver_to(app, server, **SETTINGS)
        final = deliver_pending(app, now=NOW + timedelta(minutes=KILLS + 1))
        db.expire_all()
        rows = {row.id: row for row in db.scalars(select(OutboxMessage))}
        arrived = Counter(received.header("Message-ID") for received in server.received)
        unknown = [row_id for row_id, row in rows.items()
                   if row.status is OutboxStatus.UNKNOWN]

        # Each kill left at most the one message whose DATA was in flight.
        assert max(in_flight_after_kill) <= 1
        # (Each run turns the previous kill's into «incierto»; the last run, the last one's.)
        assert sum(in_flight_after_kill) == len(unknown) <= KILLS
        assert final.recovered == in_flight_after_kill[-1]
        assert Counter(row.status for row in rows.values()) == Counter(
            {OutboxStatus.SENT: MESSAGES - len(unknown), OutboxStatus.UNKNOWN: len(unknown)})
        # No Message-ID reached the server twice; every sent row reached it.
        assert set(arrived.values()) == {1}
        assert {message_id(row_id) for row_id in ids if row_id not in unknown} <= set(arrived)
        assert all(rows[row_id].handed_at is not None for row_id in unknown)
        # Nothing arrived that the outbox does not know about.
        assert set(arrived) <= {message_id(row_id) for row_id in ids}

        # The administrador retries the «incierto» ones, having been warned they may repeat.
        retried = delivery.retry_unknown(db, actor=db.get(User, admin.id),
                                         start=NOW - timedelta(days=1),
                                         end=NOW + timedelta(seconds=1),
                                         confirm_duplicate=True,
                                         now=NOW + timedelta(minutes=KILLS + 2))
        db.commit()
        again = deliver_pending(app, now=NOW + timedelta(minutes=KILLS + 2))
        after = Counter(received.header("Message-ID") for received in server.received)

    assert retried == len(unknown)
    assert again.sent == len(unknown)
    assert set(after) == {message_id(row_id) for row_id in ids}
    assert {key for key, times in after.items() if times > 1} <= {
        message_id(row_id) for row_id in unknown}
    assert count(db, OutboxStatus.SENT) == MESSAGES
