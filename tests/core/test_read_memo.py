"""Issue 17: within a GET request, an identical read is answered once; any write forgets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import event, func, select, update

from ruta import read_memo
from tests.conftest import Factory
from workflow.models import School


@pytest.fixture
def seen(app: Flask) -> Iterator[list[str]]:
    """The statements the app's engine sends while the test runs."""
    sent: list[str] = []

    def record(_connection: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    engine = app.extensions["ruta_db"].engine
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def test_identical_reads_of_a_marked_session_are_answered_once(
        app: Flask, make: Factory, seen: list[str]) -> None:
    school = make.school(name="Institución Educativa San Simón")
    make.db.commit()
    seen.clear()
    with app.test_request_context("/"):
        session = app.extensions["ruta_db"].session()
        read_memo.enable(session)
        names = select(School.name).where(School.id == school.id)
        assert session.scalar(names) == "Institución Educativa San Simón"
        assert session.scalar(names) == "Institución Educativa San Simón"
        rows = session.scalars(select(School).where(School.id == school.id)).all()
        assert session.scalars(select(School).where(School.id == school.id)).all() == rows
        assert len(seen) == 2
        # Other parameters: another read.
        assert session.scalar(select(func.count()).select_from(School)
                              .where(School.id == school.id + 1)) == 0
        assert len(seen) == 3
        # A write through the session forgets what was read.
        session.execute(update(School).where(School.id == school.id).values(name="Nueva"))
        assert session.scalar(names) == "Nueva"
        assert len(seen) == 5
        # So does a pending change (it would be flushed before the read).
        rows[0].locality = "Centro"
        session.scalar(names)
        assert len(seen) == 7  # the flush's UPDATE and the read
        # A locking read always goes to the database.
        session.scalar(names.with_for_update())
        session.scalar(names.with_for_update())
        assert len(seen) == 9
        session.rollback()
        app.extensions["ruta_db"].session.remove()


def test_an_unmarked_session_always_reads(app: Flask, make: Factory,
                                          seen: list[str]) -> None:
    school = make.school()
    make.db.commit()
    seen.clear()
    with app.test_request_context("/", method="POST"):
        session = app.extensions["ruta_db"].session()
        names = select(School.name).where(School.id == school.id)
        session.scalar(names)
        session.scalar(names)
        assert len(seen) == 2
        app.extensions["ruta_db"].session.remove()


def test_get_requests_are_marked_and_posts_are_not(app: Flask) -> None:
    marked = {}

    @app.get("/prueba-memo")
    def probe() -> str:
        marked["get"] = read_memo.INFO_KEY in app.extensions["ruta_db"].session().info
        return "ok"

    @app.post("/prueba-memo")
    def probe_post() -> str:
        marked["post"] = read_memo.INFO_KEY in app.extensions["ruta_db"].session().info
        return "ok"

    client = app.test_client()
    client.get("/prueba-memo")
    app.config["WTF_CSRF_ENABLED"] = False
    client.post("/prueba-memo")
    assert marked == {"get": True, "post": False}
