"""Measure the mail jobs at the scale of every Secretaría: the daily pass over 10,000 Rutas,
then delivery of what it queued to a local SMTP sink.

Usage: ``python -m bench.mail [--rutas 10000] [--database-url URL]``. Uses a throw-away
SQLite file unless a URL is given (the PostgreSQL database is wiped: point it at a scratch
database). The sink is aiosmtpd on loopback in a process of its own, as a mail server is in
production (in a thread of this one it would share the interpreter lock with the deliverer
it is measuring): it counts what arrives and keeps nothing, so the figure is the
deliverer's (claim, build, SMTP, durable commit per message), not a mail server's.
Targets: the pass queues in under 2 s; delivery exceeds 300 messages/s.

The database has planner statistics before the pass (ANALYZE on PostgreSQL), as a
deployment whose autovacuum has seen its 10,000 schools would.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, insert, select, text

from bench.run import FAST_HASH, PASSWORD, prepare
from demo.calendario import seed_demo_calendar
from jobs.daily import run_daily_pass
from jobs.deliver import deliver_pending
from ruta import create_app
from workflow.models import (
    OutboxMessage,
    OutboxStatus,
    Ruta,
    RutaTransition,
    School,
    Secretaria,
    User,
    Zona,
)
from workflow.roles import Role
from workflow.states import State

# Monday 22 January 2024, 06:00 in Bogotá: the first pass after the first semana
# institucional, when every Ruta that owes its PMI is told when it is due.
PASS_DAY = date(2024, 1, 22)
PASS_AT = datetime(2024, 1, 22, 11, 0, tzinfo=UTC)
REVIEWERS = 3


def seed(app: Any, count: int) -> int:
    """One Secretaría, ``count`` schools each with its Ruta, rector and opening entry, and the
    demo 2024 calendar. Nine Rutas in ten still owe their PMI (one reminder each); the tenth
    sent it ten days ago, so the revisores are reminded of it. Returns the reminders due."""
    factory = app.extensions["ruta_db"].session_factory
    hashed = FAST_HASH.hash(PASSWORD)
    changed = datetime(2024, 1, 10, 15, 0, tzinfo=UTC)
    with factory() as session:
        secretaria = Secretaria(name="Secretaría de benchmark", divipola="73001")
        session.add(secretaria)
        session.flush()
        seed_demo_calendar(session, secretaria)
        owed = (State.BORRADOR, State.AUTOEVALUACION_ENVIADA)
        schools, rutas, rectors, entries = [], [], [], []
        for number in range(1, count + 1):
            state = State.PMI_FORMULADO if number % 10 == 0 else owed[number % 2]
            schools.append({"id": number, "secretaria_id": secretaria.id,
                            "dane_code": f"173001{number:06d}",
                            "name": f"Institución Educativa {number:05d}", "zona": Zona.URBANA,
                            "locality": f"Comuna {number % 13 + 1}", "active": True})
            rutas.append({"id": number, "school_id": number, "horizon_start_year": 2024,
                          "horizon_end_year": 2026, "state": state,
                          "state_changed_at": changed, "version": 1})
            rectors.append({"secretaria_id": secretaria.id, "school_id": number,
                            "email": f"rector{number:05d}@bench.co",
                            "name": f"Rector(a) {number:05d}", "role": Role.RECTOR,
                            "active": True, "password_hash": hashed})
            entries.append({"ruta_id": number, "trigger": "abrir_ruta", "from_state": None,
                            "to_state": State.BORRADOR, "at": changed, "extra": {}})
        session.execute(insert(School), schools)
        session.execute(insert(Ruta), rutas)
        session.execute(insert(User), rectors)
        session.execute(insert(User), [
            {"secretaria_id": secretaria.id, "email": f"revisor{number}@bench.co",
             "name": f"Revisor(a) {number}", "role": Role.REVISOR, "active": True,
             "password_hash": hashed} for number in range(1, REVIEWERS + 1)])
        session.execute(insert(RutaTransition), entries)
        session.commit()
    return count


class CountingSink:
    """Accepts every message and counts it (its size too, to show the work is real)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages = 0
        self.octets = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages += 1
            self.octets += len(envelope.original_content or b"")
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_sink(port: int) -> None:
    """The sink process: count until standard input closes, then print the counts."""
    sink = CountingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()
    print(json.dumps({"messages": sink.messages, "octets": sink.octets}), flush=True)


class SinkProcess:
    """``python -m bench.mail --sink PORT`` beside this process."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(  # noqa: S603 (this module, fixed arguments)
            [sys.executable, "-m", "bench.mail", "--sink", str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            self.process.kill()
            raise SystemExit("the SMTP sink did not start")

    def stop(self) -> dict[str, int]:
        output, _ = self.process.communicate(timeout=60)
        return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rutas", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--sink", type=int, default=0, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.sink:
        run_sink(options.sink)
        return
    with tempfile.TemporaryDirectory() as folder:
        url = options.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        prepare(url)
        port = free_port()
        sink = SinkProcess(port)
        counts = {"messages": 0, "octets": 0}
        app = create_app({
            "TESTING": True, "RUTA_ENV": "development", "DATABASE_URL": url,
            "SECRET_KEY": "b" * 40, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8,
            "ARGON2_PARALLELISM": 1, "RUTA_BASE_URL": "https://ruta.bench.co",
            "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_USE_TLS": False,
            "MAIL_USE_SSL": False, "MAIL_SUPPRESS_SEND": False,
            "MAIL_DEFAULT_SENDER": "Ruta de Mejoramiento <no-responder@bench.co>"})
        database = app.extensions["ruta_db"]
        try:
            start = time.perf_counter()
            seed(app, options.rutas)
            seeded_s = time.perf_counter() - start
            if url.startswith("postgresql"):
                with database.engine.connect() as connection:
                    connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                        text("ANALYZE"))

            start = time.perf_counter()
            daily = run_daily_pass(app, now=PASS_AT, day=PASS_DAY)
            pass_s = time.perf_counter() - start

            start = time.perf_counter()
            report = deliver_pending(app, now=PASS_AT)
            deliver_s = time.perf_counter() - start

            with database.session_factory() as session:
                sent = session.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.status == OutboxStatus.SENT))
            batch = int(app.config["MAIL_BATCH_SIZE"])
            workers = int(app.config["MAIL_DELIVERY_WORKERS"])
        finally:
            counts = sink.stop()
            database.dispose()

    if not daily.ran or report.sent != len(daily.queued) or counts["messages"] != report.sent \
            or sent != report.sent:
        raise SystemExit(f"inconsistent run: queued {len(daily.queued)}, reported sent "
                         f"{report.sent}, rows sent {sent}, sink got {counts['messages']}")
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    rate = report.sent / deliver_s
    print(f"\n{options.rutas:,} Rutas on {backend}; seeded in {seeded_s:.1f} s; one run\n")
    print("| measurement | figure | target |")
    print("|---|---:|---:|")
    print(f"| daily pass {PASS_DAY.isoformat()}: reminders queued | {len(daily.queued):,} | |")
    print(f"| daily pass: time to evaluate and queue | {pass_s:.2f} s | < 2 s |")
    print(f"| delivery to a loopback SMTP sink: messages | {report.sent:,} "
          f"({counts['octets'] / report.sent / 1024:.1f} KiB each) | |")
    print(f"| delivery: time, {-(-report.sent // batch)} connections of up to {batch} "
          f"messages, {workers} deliverers side by side | {deliver_s:.2f} s | |")
    print(f"| delivery: rate | {rate:.0f} messages/s | > 300 /s |")


if __name__ == "__main__":
    main()
