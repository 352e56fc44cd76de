"""A request's transaction that wrote nothing ends with COMMIT on PostgreSQL, so psycopg keeps
the statements it prepared (a rollback makes it forget them all); one that wrote anything,
or holds changes it never sent, is rolled back as before."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from ruta.db import commit_if_read_only
from tests.conftest import Factory, WebClient
from workflow.models import School, User
from workflow.roles import Role


@pytest.fixture
def school(make: Factory, backend: str) -> School:
    if backend != "postgresql":
        pytest.skip("psycopg's prepared statements: PostgreSQL only")
    found = make.school(name="Institución Educativa San Simón")
    make.db.commit()
    return found


def _name(db: Session, school: School) -> str | None:
    db.expire_all()
    return db.scalar(select(School.name).where(School.id == school.id))


def test_a_read_only_transaction_is_committed(app: Flask, school: School) -> None:
    session = app.extensions["ruta_db"].session_factory()
    try:
        session.scalar(select(School.name).where(School.id == school.id))
        driver = session.connection().connection.driver_connection
        commit_if_read_only(session)
        assert driver.info.transaction_status.name == "IDLE"
    finally:
        session.close()


def test_a_transaction_that_wrote_is_rolled_back(app: Flask, db: Session,
                                                 school: School) -> None:
    session = app.extensions["ruta_db"].session_factory()
    # A write the ORM does not see (straight through the connection).
    session.connection().execute(text("UPDATE schools SET name = 'Otra' WHERE id = :id"),
                                 {"id": school.id})
    commit_if_read_only(session)
    session.close()
    assert _name(db, school) == "Institución Educativa San Simón"
    session = app.extensions["ruta_db"].session_factory()
    session.execute(update(School).where(School.id == school.id).values(name="Otra"))
    commit_if_read_only(session)
    session.close()
    assert _name(db, school) == "Institución Educativa San Simón"


def test_changes_the_orm_never_sent_are_dropped(app: Flask, db: Session, school: School) -> None:
    session = app.extensions["ruta_db"].session_factory()
    loaded = session.get(School, school.id)
    assert loaded is not None
    loaded.name = "Otra"  # pending, never flushed
    commit_if_read_only(session)
    session.close()
    assert _name(db, school) == "Institución Educativa San Simón"


def test_pages_keep_their_prepared_statements(app: Flask, web: WebClient, make: Factory,
                                              school: School) -> None:
    make.user(Role.RECTOR, school=school)
    make.db.commit()
    user = make.db.scalars(select(User).where(User.school_id == school.id)).one()
    assert web.login(user.email).status_code == 302
    used: list[object] = []
    engine = app.extensions["ruta_db"].engine

    def checkout(driver: object, *_: object) -> None:
        used.append(driver)

    event.listen(engine, "checkout", checkout)
    try:
        for _ in range(7):  # psycopg prepares a statement the sixth time it runs it
            assert web.get("/accesibilidad").status_code == 200
    finally:
        event.remove(engine, "checkout", checkout)
    driver = used[-1]
    assert driver.execute(  # type: ignore[attr-defined]
        "SELECT count(*) FROM pg_prepared_statements").fetchone()[0] > 0
