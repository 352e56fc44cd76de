"""Round trips to PostgreSQL per request (``ruta.pg_round_trips``): a signed-in page that needs
one statement costs one round trip; a connection the server closed while it waited in the
pool is replaced without the person seeing an error; a GET's reads run outside a transaction
and its first write starts one, so what a rollback undid before it still undoes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.orm import Session

from ruta.pg_round_trips import plain_read, reads_outside_transactions
from tests.conftest import Factory, WebClient
from workflow import outbox
from workflow.models import OutboxMessage, School
from workflow.roles import Role


@pytest.fixture
def school(make: Factory, backend: str) -> School:
    if backend != "postgresql":
        pytest.skip("round trips to PostgreSQL: the SQLite file has none")
    found = make.school(name="Institución Educativa San Simón")
    make.user(Role.RECTOR, school=found, email="rector@sansimon.edu.co")
    make.db.commit()
    return found


class Trace:
    """libpq's trace of every connection the engine hands out, one file per checkout."""

    def __init__(self, engine: Engine, folder: Path) -> None:
        self.engine, self.folder, self.files = engine, folder, []
        self.pids: set[int] = set()

    def checkout(self, driver: Any, *_: Any) -> None:
        self.pids.add(driver.info.backend_pid)
        path = self.folder / f"trace-{len(self.files)}.txt"
        handle = path.open("w")
        self.files.append((path, handle))
        driver.pgconn.trace(handle.fileno())
        driver.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS
                                      | psycopg.pq.Trace.REGRESS_MODE)

    def checkin(self, driver: Any, *_: Any) -> None:
        if driver is not None and not driver.closed:
            driver.pgconn.untrace()

    def round_trips(self) -> int:
        """Answers the server ended with «ready for query»: one per round trip."""
        total = 0
        for path, handle in self.files:
            handle.close()
            total += sum("\tReadyForQuery\t" in line for line in path.read_text().splitlines())
        self.files = []
        return total


@pytest.fixture
def trace(app: Flask, tmp_path: Path) -> Iterator[Trace]:
    engine = app.extensions["ruta_db"].engine
    traced = Trace(engine, tmp_path)
    event.listen(engine, "checkout", traced.checkout)
    event.listen(engine, "checkin", traced.checkin)
    try:
        yield traced
    finally:
        event.remove(engine, "checkout", traced.checkout)
        event.remove(engine, "checkin", traced.checkin)
        traced.round_trips()


def test_a_signed_in_page_of_one_statement_costs_one_round_trip(
        web: WebClient, school: School, trace: Trace) -> None:
    assert web.login("rector@sansimon.edu.co").status_code == 302
    for _ in range(3):
        assert web.get("/accesibilidad").status_code == 200
    trace.round_trips()
    page = web.get("/accesibilidad")
    assert page.status_code == 200
    assert "Declaración de accesibilidad" in page.get_data(as_text=True)
    # Before: a ping, BEGIN, the session's statement, «did it write?», COMMIT.
    assert trace.round_trips() == 1


def _terminate(app: Flask, pids: set[int]) -> None:
    """End those backends, as a restart or an administrator would, and wait until they are
    gone (the server ends them asynchronously)."""
    engine = app.extensions["ruta_db"].engine
    with psycopg.connect(engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False), autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):
            left = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                                 (list(pids),)).fetchone()
            if left is not None and left[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError("the terminated backends did not end")


def test_a_connection_the_server_closed_is_replaced_unseen(
        app: Flask, web: WebClient, school: School, trace: Trace) -> None:
    assert web.login("rector@sansimon.edu.co").status_code == 302
    assert web.get("/accesibilidad").status_code == 200
    assert trace.pids
    _terminate(app, trace.pids)
    ended = set(trace.pids)
    trace.pids.clear()
    page = web.get("/accesibilidad")
    assert page.status_code == 200
    assert "Declaración de accesibilidad" in page.get_data(as_text=True)
    assert trace.pids and not trace.pids & ended  # a new connection answered


def _name(db: Session, school: School) -> str | None:
    db.expire_all()
    return db.scalar(select(School.name).where(School.id == school.id))


def test_reads_run_in_autocommit_and_the_first_write_starts_a_transaction(
        app: Flask, db: Session, school: School) -> None:
    session = app.extensions["ruta_db"].session_factory()
    reads_outside_transactions(session)
    try:
        assert session.scalar(select(School.name).where(School.id == school.id))
        driver = session.connection().connection.driver_connection
        assert driver.autocommit is True
        assert driver.info.transaction_status.name == "IDLE"  # no BEGIN was sent
        session.execute(update(School).where(School.id == school.id).values(name="Otra"))
        assert driver.autocommit is False
        assert driver.info.transaction_status.name == "INTRANS"
        session.rollback()
        assert _name(db, school) == "Institución Educativa San Simón"
    finally:
        session.close()
    # The connection went back to the pool with its transactions on.
    session = app.extensions["ruta_db"].session_factory()
    try:
        session.execute(text("UPDATE schools SET name = 'Otra' WHERE id = :id"),
                        {"id": school.id})
        session.rollback()
        assert _name(db, school) == "Institución Educativa San Simón"
    finally:
        session.close()


def test_a_write_straight_to_the_driver_starts_the_transaction_too(
        app: Flask, db: Session, school: School) -> None:
    session = app.extensions["ruta_db"].session_factory()
    reads_outside_transactions(session)
    try:
        assert session.scalar(select(School.name).where(School.id == school.id))
        assert outbox.enqueue(
            session, kind="recordatorio_pmi_pendiente", to=["rector@sansimon.edu.co"],
            dedupe_key="ronda-unica", secretaria_id=school.secretaria_id,
            context={"secretaria_name": "Secretaría de Educación de Ibagué",
                     "school_name": school.name, "dane_code": "173001000001",
                     "rector_name": "Rectora", "horizon": "2024–2026",
                     "state_label": "Autoevaluación en curso",
                     "deadline": "16 de febrero de 2024",
                     "ruta_url": "https://ruta.ibague.gov.co/rutas/1"})
        session.rollback()
    finally:
        session.close()
    assert db.scalar(select(OutboxMessage.id).where(
        OutboxMessage.dedupe_key == "ronda-unica")) is None


@pytest.mark.parametrize(("statement", "plain"), [
    ("SELECT schools.name FROM schools WHERE schools.id = %(id)s", True),
    ("\n  select 1", True),
    ("SELECT rutas.id FROM rutas WHERE rutas.id = %(id)s FOR UPDATE", False),
    ("SELECT rutas.id FROM rutas FOR NO KEY UPDATE OF rutas", False),
    ("SELECT pg_advisory_xact_lock(%(key)s)", False),
    ("SELECT nextval('outbox_id_seq')", False),
    ("INSERT INTO schools (name) VALUES (%(name)s)", False),
    ("WITH moved AS (UPDATE rutas SET state = 'x' RETURNING id) SELECT id FROM moved", False),
])
def test_what_counts_as_a_plain_read(statement: str, plain: bool) -> None:
    assert plain_read(statement) is plain


def test_an_isolation_level_asked_for_is_kept(app: Flask, school: School) -> None:
    session = app.extensions["ruta_db"].session_factory()
    reads_outside_transactions(session)
    try:
        connection = session.connection(
            execution_options={"isolation_level": "REPEATABLE READ"})
        assert connection.connection.driver_connection.autocommit is False
        assert connection.scalar(text(
            "SELECT current_setting('transaction_isolation')")) == "repeatable read"
    finally:
        session.close()
