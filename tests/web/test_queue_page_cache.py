"""The revision queue's body kept per process (``blueprints.revision.BODIES``): its key is
complete.

A kept body is only right if everything it was drawn from is in its key: the Secretaría's
``queue`` token (migration 0043) and the largest ids of the reminders and of the history for
the data, the rest named by ``_body_key``. These tests prove it from three sides, on both
databases:

- every table the page reads when it draws the body is watched by a trigger of 0043, or is
  named by the key (the history's largest id), or is the session and the tokens;
- every watched table and column replaces the token when one of its rows is written, and
  other writes (a sign-in, a Ruta's page stamp, a deadline) keep it;
- a change made behind the services' back (bulk statements, a reminder or a transition
  added) is on the page at once, a page nobody changed is served without drawing it again,
  and what differs between addresses, viewers and moments never leaks from one to the other.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from flask import Flask
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from blueprints import revision
from ruta.db import db_session, make_engine
from tests.conftest import Factory, WebClient
from tests.demo_copy import load_demo
from tests.page_cache_support import TablesRead, migration, tables_with_triggers
from tests.query_counter import counting_statements
from workflow import plain_rows, scope_versions
from workflow.dates import fecha
from workflow.horizontes.horizons import ensure_horizon
from workflow.horizontes.models import HorizonCalendar, ReminderRule, ReminderSent
from workflow.models import (
    Base,
    Ruta,
    RutaTransition,
    School,
    ScopeVersion,
    Secretaria,
    User,
)
from workflow.roles import Role
from workflow.states import State, Trigger

MIGRATION = "0043_queue_versions.py"
# What the drawn body may read without a trigger of 0043: the session and the tokens (read
# before it, for the key), and the history, whose rows are never updated or deleted (the
# database refuses: migration 0001) and whose inserts move the largest id the key holds.
UNWATCHED_READS = frozenset({"user_sessions", "scope_versions"})
NAMED_BY_THE_KEY = frozenset({"ruta_transitions"})
URLS = ("/revision/", "/revision/?pagina=2", "/revision/?orden=colegio&dir=asc",
        "/revision/?estado=en_revision", "/revision/?revisor=sin", "/revision/?zona=rural",
        "/revision/?horizonte=2021", "/revision/?colegio=san&orden=recordatorio",
        "/revision/?revisor=mias")
# What a kept view sends: the session, the tokens (with the logs' largest ids).
KEPT_STATEMENTS = 2


def watched_tables(db: Session) -> set[str]:
    """The tables that carry a 0043 (queue token) trigger, as the database itself says."""
    return tables_with_triggers(db, "%queue_version%")


def token(db: Session, secretaria_id: int) -> str | None:
    db.commit()  # the triggers replace it when the change commits (on PostgreSQL)
    return db.scalar(select(ScopeVersion.token).where(
        ScopeVersion.secretaria_id == secretaria_id,
        ScopeVersion.kind == scope_versions.QUEUE))


def signed_in(web: WebClient, db: Session, role: Role = Role.REVISOR, index: int = 0) -> User:
    people = db.scalars(select(User).where(User.role == role, User.active)
                        .order_by(User.id)).all()
    person = people[index]
    assert web.login(person.email).status_code == 302
    return person


def shown(html: str) -> str:
    """The page without its CSRF tokens (the session's, put back on each view)."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


def body_of(html: str) -> str:
    """The kept part of the page: from the state tabs to the end of the main content."""
    start = html.index('<nav aria-label="Rutas por estado">')
    return html[start:html.index("</main>", start)]


class View(NamedTuple):
    html: str
    statements: int
    drawn: bool  # ``revision._draw`` ran

    @property
    def kept(self) -> bool:
        """Served from the kept body, in the kept view's statements alone."""
        return not self.drawn and self.statements <= KEPT_STATEMENTS


# How many times this process drew the body (``_count_draws``).
DRAWS = [0]


@pytest.fixture(autouse=True)
def _count_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether a view drew its body is told by the drawing itself, not by its statements: a
    kept body's view may still count the menu's badge again (another token moved)."""
    draw = revision._draw

    def counted() -> tuple[str, str, datetime | None]:
        DRAWS[0] += 1
        return draw()

    monkeypatch.setattr(revision, "_draw", counted)


def viewed(app: Flask, web: WebClient, url: str = "/revision/") -> View:
    """The page at ``url``, how many statements it took and whether it drew the body."""
    before = DRAWS[0]
    with counting_statements(app) as sent:
        response = web.get(url)
    assert response.status_code == 200, url
    return View(response.get_data(as_text=True), sent.count, DRAWS[0] > before)


@pytest.fixture
def desk(make: Factory) -> tuple[Secretaria, User]:
    """A Secretaría with its current horizon stored (else the queue stores it in its GET and
    draws every time), a revisor and two Rutas: the cheap scene, without the demo."""
    secretaria = make.secretaria()
    ensure_horizon(make.db, secretaria, 2024, 2026, actor=None)
    revisor = make.user(Role.REVISOR, secretaria=secretaria)
    for number in (1, 2):
        make.ruta(make.school(secretaria, name=f"Institución Educativa Cola {number}"),
                  state=State.AUTOEVALUACION_ENVIADA)
    make.db.commit()
    return secretaria, revisor


# --- the tables ---------------------------------------------------------------------------


def test_every_table_the_drawn_page_reads_is_watched(
        app: Flask, db: Session, web_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    load_demo(db)
    tables = TablesRead()
    # Only what the kept body is drawn from: the layout, the heading's plan adjustments and
    # the menu's badge (kept under the «lists» token) are drawn on every view.
    monkeypatch.setattr(revision, "_draw", tables.only_while(revision._draw))
    engine = app.extensions["ruta_db"].engine
    for role in (Role.ADMINISTRADOR, Role.REVISOR, Role.CONSULTA):
        client: WebClient = web_factory()
        signed_in(client, db, role)
        with tables.listening(engine):
            for url in URLS:
                scope_versions.clear_memos()  # drawn, and its counts and comunas read
                assert client.get(url).status_code == 200
    read = tables.read
    # The page's readers ran (a test that read nothing would pass).
    assert {"rutas", "schools", "users", "calendars", "secretarias", "reminders_sent",
            "ruta_transitions"} <= read
    unwatched = read - UNWATCHED_READS - NAMED_BY_THE_KEY - watched_tables(db)
    assert not unwatched, (
        f"The queue reads these tables without a trigger of migration 0043 (add one): "
        f"{sorted(unwatched)}")


def _a_reminder(db: Session, ruta_id: int, moment: datetime, **values: Any) -> int:
    return db.scalar(insert(ReminderSent).returning(ReminderSent.id).values(
        ruta_id=ruta_id, rule=ReminderRule.PMI_PENDIENTE.value, occurrence_key="horizonte-2024",
        day=moment.date(), summary="Se recordó enviar el PMI.", recipients="rector@prueba.co",
        created_at=moment, **values))


def test_each_watched_column_replaces_the_token_when_a_row_is_written(
        db: Session, desk: tuple[Secretaria, User]) -> None:
    secretaria, _ = desk
    assert set(migration(MIGRATION).WATCHED) == watched_tables(db)
    _a_reminder(db, db.scalars(select(Ruta.id)).first() or 0, datetime.now(UTC))
    exercised = []
    for table, (_, _, columns, events) in migration(MIGRATION).WATCHED.items():
        assert "UPDATE" in events, table
        row_id = db.scalar(text(f"SELECT min(id) FROM {table}"))  # noqa: S608
        assert row_id is not None, table
        for column in columns or [found.name for found in Base.metadata.tables[table].c]:
            before = token(db, secretaria.id)
            # Rewriting a watched column with its own value fires the triggers.
            db.execute(text(f"UPDATE {table} SET {column} = {column} "  # noqa: S608
                            "WHERE id = :id"), {"id": row_id})
            assert token(db, secretaria.id) != before, f"{table}.{column} kept the token"
            exercised.append(f"{table}.{column}")
    assert len(exercised) >= 30, exercised


def test_inserts_and_deletes_replace_the_token(db: Session, make: Factory,
                                               desk: tuple[Secretaria, User]) -> None:
    secretaria, _ = desk
    school = db.scalars(select(School).order_by(School.id)).first()
    assert school is not None
    ruta_id = 0
    inserts: list[tuple[Any, Any]] = [
        (School, lambda: db.scalar(insert(School).returning(School.id).values(
            secretaria_id=secretaria.id, dane_code="173001999999", name="IE Nueva",
            zona="urbana", locality="Comuna 9"))),
        (Ruta, lambda: db.scalar(insert(Ruta).returning(Ruta.id).values(
            school_id=school.id, horizon_start_year=2030, horizon_end_year=2032))),
        (User, lambda: make.user(Role.CONSULTA, secretaria=secretaria).id),
        (HorizonCalendar, lambda: db.scalar(
            insert(HorizonCalendar).returning(HorizonCalendar.id).values(
                secretaria_id=secretaria.id, horizon_start_year=2033,
                horizon_end_year=2035))),
        (ReminderSent, lambda: _a_reminder(db, ruta_id, datetime.now(UTC))),
    ]
    seen = [token(db, secretaria.id)]
    written: list[tuple[Any, int]] = []
    for model, write in inserts:
        row_id = write()
        if model is Ruta:
            ruta_id = row_id
        written.append((model, row_id))
        seen.append(token(db, secretaria.id))
        if model is not ReminderSent:  # no trigger on its inserts: the key's largest id
            assert seen[-1] != seen[-2], f"inserting into {model.__tablename__} kept it"
    for model, row_id in reversed(written):
        db.execute(delete(model).where(model.id == row_id))
        seen.append(token(db, secretaria.id))
        assert seen[-1] != seen[-2], f"deleting from {model.__tablename__} kept the token"
    # A new Secretaría has its token from its first row on.
    other = make.secretaria("Secretaría de Educación del Tolima", "73")
    assert token(db, other.id) is not None


def test_other_writes_keep_the_token(db: Session, desk: tuple[Secretaria, User]) -> None:
    secretaria, revisor = desk
    ruta_id = db.scalars(select(Ruta.id).order_by(Ruta.id)).first()
    before = token(db, secretaria.id)
    moment = datetime.now(UTC)
    # A sign-in and what an account's page writes; a Ruta's page stamp and version (every
    # edit of its autoevaluación or plan moves them); a deadline; the Secretaría's name.
    db.execute(update(User).where(User.id == revisor.id).values(
        last_login_at=moment, activated_at=moment, password_hash="x", email="otro@prueba.co",
        must_change_password=True))
    db.execute(update(Ruta).where(Ruta.id == ruta_id).values(
        page_stamp=Ruta.page_stamp + 1, version=Ruta.version + 1))
    db.execute(update(HorizonCalendar).values(pmi_deadline=date(2024, 7, 14),
                                              updated_at=moment))
    db.execute(update(Secretaria).values(name="Otra Secretaría", page_stamp=7))
    # A reminder and a transition added: the key's largest ids move instead (below).
    _a_reminder(db, ruta_id or 0, moment)
    db.execute(insert(RutaTransition).values(
        ruta_id=ruta_id, trigger=Trigger.ENVIAR_AUTOEVALUACION.value, from_state=None,
        to_state=State.AUTOEVALUACION_ENVIADA, at=moment, extra={}))
    assert token(db, secretaria.id) == before


def test_the_history_cannot_be_rewritten(db: Session, desk: tuple[Secretaria, User]) -> None:
    """Why ``ruta_transitions`` needs no trigger of 0043: only inserts reach it, and those
    move the key's largest id."""
    ruta_id = db.scalars(select(Ruta.id)).first()
    entry = db.scalar(insert(RutaTransition).returning(RutaTransition.id).values(
        ruta_id=ruta_id, trigger=Trigger.ENVIAR_AUTOEVALUACION.value, from_state=None,
        to_state=State.AUTOEVALUACION_ENVIADA, at=datetime.now(UTC), extra={}))
    db.commit()
    for change in (update(RutaTransition).values(observations="Reescrita"),
                   delete(RutaTransition)):
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(change.where(RutaTransition.id == entry))
        db.rollback()


# --- the page -----------------------------------------------------------------------------


def test_the_kept_page_follows_writes_made_behind_the_services_back(
        app: Flask, db: Session, web: WebClient) -> None:
    secretaria = load_demo(db)
    signed_in(web, db)
    first = viewed(app, web)
    again = viewed(app, web)
    assert first.drawn and again.kept
    assert shown(first.html) == shown(again.html)

    def page() -> str:
        view = viewed(app, web)
        assert view.drawn, "a change was served from the kept body"
        return view.html

    ruta = db.scalars(select(Ruta).where(Ruta.horizon_start_year == 2024,
                                         Ruta.reviewer_id.is_not(None))
                      .order_by(Ruta.state_changed_at)).first()
    assert ruta is not None and ruta.reviewer_id is not None
    db.execute(update(School).where(School.id == ruta.school_id)
               .values(name="Institución Renombrada por Fuera"))
    db.commit()
    assert "Institución Renombrada por Fuera" in page()
    db.execute(update(User).where(User.id == ruta.reviewer_id)
               .values(name="Revisora Renombrada por Fuera"))
    db.commit()
    assert "Revisora Renombrada por Fuera" in body_of(page())
    waited = datetime(2019, 3, 4, 15, 0, tzinfo=UTC)
    db.execute(update(Ruta).where(Ruta.id == ruta.id).values(state_changed_at=waited))
    db.commit()
    assert f"(desde {fecha(waited, 'short')})" in page()
    db.execute(update(Ruta).where(Ruta.reviewer_id == ruta.reviewer_id)
               .values(reviewer_id=None))
    db.commit()
    assert "Revisora Renombrada por Fuera" not in body_of(page())
    db.execute(update(HorizonCalendar).where(HorizonCalendar.horizon_start_year == 2021)
               .values(horizon_end_year=2022))
    db.commit()
    assert "2021–2022 (terminado)" in page()
    db.execute(update(Secretaria).where(Secretaria.id == secretaria.id)
               .values(horizon_start_year=2027))
    db.commit()
    html = page()
    assert "Horizonte 2027–2029." in html and "2027–2029 (vigente)" in html
    # A sign-in changes nothing the page shows: still kept.
    db.execute(update(User).values(last_login_at=datetime.now(UTC)))
    db.commit()
    assert viewed(app, web).kept


def test_a_new_reminder_or_transition_shows_at_once(
        app: Flask, db: Session, web: WebClient, desk: tuple[Secretaria, User]) -> None:
    _, revisor = desk
    assert web.login(revisor.email).status_code == 302
    ruta_id = db.scalars(select(Ruta.id).order_by(Ruta.id)).first() or 0
    assert "Autoevaluación enviada" in viewed(app, web).html
    assert viewed(app, web).kept
    reminded = datetime(2025, 5, 6, 15, 0, tzinfo=UTC)
    _a_reminder(db, ruta_id, reminded)
    db.commit()
    view = viewed(app, web)
    assert view.drawn and fecha(reminded, "short") in view.html
    # A return logged by a bulk statement, with no change to the Ruta's row.
    db.execute(insert(RutaTransition).values(
        ruta_id=ruta_id, trigger=Trigger.DEVOLVER.value, from_state=State.EN_REVISION,
        to_state=State.AUTOEVALUACION_ENVIADA, at=reminded, extra={},
        observations="Falta la meta del área académica."))
    db.commit()
    view = viewed(app, web)
    assert view.drawn and "PMI devuelto con observaciones" in view.html
    assert viewed(app, web).kept


def test_a_sign_in_keeps_the_kept_body(app: Flask, db: Session, web_factory: Any,
                                       make: Factory, desk: tuple[Secretaria, User]) -> None:
    secretaria, revisor = desk
    other = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    db.commit()
    web: WebClient = web_factory()
    assert web.login(revisor.email).status_code == 302
    assert viewed(app, web).drawn
    assert web_factory().login(other.email).status_code == 302
    assert web_factory().login(revisor.email).status_code == 302
    assert viewed(app, web).kept


def test_each_address_keeps_its_own_body(app: Flask, db: Session, web: WebClient) -> None:
    load_demo(db)
    app.config["QUEUE_PAGE_SIZE"] = 3  # a queue of several pages
    signed_in(web, db)
    drawn = {url: shown(viewed(app, web, url).html) for url in URLS}
    assert len({body_of(html) for html in drawn.values()}) == len(URLS)
    for url in URLS:
        view = viewed(app, web, url)
        assert view.kept, url
        assert shown(view.html) == drawn[url], url
    # A name given twice: the page reads the first value, so the order is part of the key.
    twice = [body_of(viewed(app, web, f"/revision/?estado={first}&estado={second}").html)
             for first, second in (("borrador", "en_revision"), ("en_revision", "borrador"))]
    assert twice[0] != twice[1]
    # Another page size is another body.
    app.config["QUEUE_PAGE_SIZE"] = 4
    assert viewed(app, web, "/revision/?pagina=2").drawn
    app.config["QUEUE_PAGE_SIZE"] = 3
    scope_versions.clear_memos()
    assert {url: shown(viewed(app, web, url).html) for url in URLS} == drawn


def test_mis_rutas_is_each_reviewers_own_and_the_rest_is_shared(
        app: Flask, db: Session, web_factory: Any) -> None:
    load_demo(db)
    clients = {}
    for role, index in ((Role.REVISOR, 0), (Role.REVISOR, 1), (Role.ADMINISTRADOR, 0),
                        (Role.CONSULTA, 0)):
        clients[role, index] = web_factory()
        signed_in(clients[role, index], db, role, index)
    first, second = clients[Role.REVISOR, 0], clients[Role.REVISOR, 1]
    mine = [body_of(viewed(app, client, "/revision/?revisor=mias").html)
            for client in (first, second)]
    assert mine[0] != mine[1]
    assert body_of(viewed(app, first, "/revision/?revisor=mias").html) == mine[0]
    # Two revisores share the body of every other address: the second's view is kept.
    everyone = body_of(viewed(app, first).html)
    view = viewed(app, second)
    assert view.kept and body_of(view.html) == everyone
    # Drawn for each viewer, the body does not depend on who looks (only their scope does,
    # and every role of the Secretaría has the same one): what makes sharing it right.
    for url in ("/revision/", "/revision/?estado=en_revision&orden=colegio"):
        bodies = set()
        for client in clients.values():
            scope_versions.clear_memos()
            bodies.add(body_of(viewed(app, client, url).html))
        assert len(bodies) == 1, url


def _clock(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(revision, "utcnow", lambda: moment)


def test_the_body_ends_when_a_rows_days_change(
        app: Flask, db: Session, web: WebClient, desk: tuple[Secretaria, User],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, revisor = desk
    start = datetime(2026, 3, 2, tzinfo=UTC)
    first, second = db.scalars(select(Ruta.id).order_by(Ruta.id)).all()
    for ruta_id, hour in ((first, 10), (second, 16)):
        db.execute(update(Ruta).where(Ruta.id == ruta_id).values(
            state_changed_at=start + timedelta(hours=hour)))
    db.commit()
    assert web.login(revisor.email).status_code == 302

    def days_shown(moment: datetime) -> tuple[list[str], bool]:
        """The «días» of the two rows at ``moment``, and whether the view kept the body."""
        _clock(monkeypatch, moment)
        view = viewed(app, web)
        return re.findall(r"(\d+ días?) <span", view.html), view.kept

    day = start + timedelta(days=2)
    assert days_shown(day + timedelta(hours=9, minutes=55)) == (["1 día", "1 día"], False)
    # 09:59: nothing changed yet (kept); 10:01: the first Ruta's count went up.
    assert days_shown(day + timedelta(hours=9, minutes=59)) == (["1 día", "1 día"], True)
    assert days_shown(day + timedelta(hours=10, minutes=1)) == (["2 días", "1 día"], False)
    assert days_shown(day + timedelta(hours=15, minutes=59)) == (["2 días", "1 día"], True)
    assert days_shown(day + timedelta(hours=16, minutes=1)) == (["2 días", "2 días"], False)


def test_a_body_drawn_while_the_request_wrote_is_not_kept(
        app: Flask, db: Session, web: WebClient, make: Factory) -> None:
    """A Secretaría whose current horizon is not stored yet: the page stores it itself, in a
    GET that never commits, so what it drew is newer than the token, each time."""
    secretaria = make.secretaria()
    make.ruta(make.school(secretaria))
    revisor = make.user(Role.REVISOR, secretaria=secretaria)
    db.commit()
    assert web.login(revisor.email).status_code == 302
    for _ in range(2):
        view = viewed(app, web)
        assert view.drawn and "Horizonte 2024–2026." in view.html
    assert len(revision.BODIES) == 0
    assert db.scalar(select(HorizonCalendar.id)) is None  # rolled back every time


def test_a_horizon_changed_before_the_token_is_read_is_drawn_new(
        app: Flask, db: Session, web: WebClient, desk: tuple[Secretaria, User],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The Secretaría's row (its current horizon) comes with the session, before the token:
    a change committed in between must not be drawn old under the new token (and kept)."""
    secretaria, revisor = desk
    ensure_horizon(db, secretaria, 2027, 2029, actor=None)
    db.commit()
    assert web.login(revisor.email).status_code == 302
    read, changed = scope_versions.version, []

    def changed_first(*args: Any, **kwargs: Any) -> Any:
        if not changed:
            changed.append(True)
            db.execute(update(Secretaria).where(Secretaria.id == secretaria.id)
                       .values(horizon_start_year=2027))
            db.commit()
        return read(*args, **kwargs)

    monkeypatch.setattr(scope_versions, "version", changed_first)
    assert "Horizonte 2027–2029." in viewed(app, web).html
    view = viewed(app, web)
    assert view.kept and "Horizonte 2027–2029." in view.html


# The driver's own placeholders: psycopg's and sqlite3's.
RENAME_BEHIND_THE_SESSION = {
    "%s": "UPDATE schools SET name = 'AAA Nunca Guardada' WHERE id = %s",
    "?": "UPDATE schools SET name = 'AAA Nunca Guardada' WHERE id = ?"}


def test_a_write_sent_straight_to_the_driver_is_never_kept(
        app: Flask, db: Session, web: WebClient, desk: tuple[Secretaria, User],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A write no session event sees between the token's two reads: the second read asks
    the database (not the request's read memo), so the body drawn over it is not kept."""
    _, revisor = desk
    school = db.scalars(select(School).order_by(School.id)).first()
    assert school is not None
    assert web.login(revisor.email).status_code == 302
    drawing = revision._draw

    def written_then_drawn() -> tuple[str, str, datetime | None]:
        driver = plain_rows.driver_for_writes(db_session())
        placeholder = "%s" if db.get_bind().dialect.name == "postgresql" else "?"
        driver.execute(RENAME_BEHIND_THE_SESSION[placeholder], (school.id,))
        return drawing()

    monkeypatch.setattr(revision, "_draw", written_then_drawn)
    assert "AAA Nunca Guardada" in viewed(app, web).html
    monkeypatch.setattr(revision, "_draw", drawing)
    view = viewed(app, web)
    assert view.drawn
    assert "AAA Nunca Guardada" not in view.html  # the GET's transaction was rolled back
    assert school.name in view.html


def test_bad_addresses_answer_without_an_error(app: Flask, db: Session, web: WebClient,
                                               desk: tuple[Secretaria, User]) -> None:
    _, revisor = desk
    assert web.login(revisor.email).status_code == 302
    for url, status in (("/revision/?horizonte=1999", 404), ("/revision/?horizonte=abc", 200),
                        ("/revision/?pagina=-3&orden=nada&dir=x", 200),
                        ("/revision/?estado=otro&revisor=mias&revisor=sin", 200)):
        for _ in range(2):  # drawn, then kept (or refused again)
            assert web.get(url).status_code == status, url


# --- the migration ------------------------------------------------------------------------


def _triggers(connection: Any) -> set[str]:
    if connection.dialect.name == "postgresql":
        query = ("SELECT DISTINCT trigger_name FROM information_schema.triggers "
                 "WHERE trigger_name LIKE '%queue_version%'")
    else:
        query = ("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                 "AND name LIKE '%queue_version%'")
    return set(connection.scalars(text(query)))


def _queue_tokens(connection: Any) -> int:
    return connection.scalar(text("SELECT count(*) FROM scope_versions WHERE kind = 'queue'"))


def _kind_refused(connection: Any) -> bool:
    """Whether scope_versions' CHECK refuses the kind «queue» (tried in a savepoint, with no
    «queue» row left to collide with)."""
    try:
        with connection.begin_nested():
            connection.execute(text("INSERT INTO scope_versions (secretaria_id, kind, token) "
                                    "SELECT id, 'queue', 'x' FROM secretarias"))
            raise LookupError  # accepted: undone
    except LookupError:
        return False
    except DBAPIError:
        return True


def test_migration_0043_downgrades_and_upgrades_again(
        app: Flask, db: Session, make: Factory, sqlite_template: Path, tmp_path: Path) -> None:
    from alembic import command

    from ruta.migrate import alembic_config, upgrade

    make.secretaria()
    db.commit()
    if db.get_bind().dialect.name == "postgresql":
        # In the test database itself, in one transaction rolled back at the end (DDL is
        # transactional on PostgreSQL): the schema the next tests find is untouched.
        db.close()
        engine = app.extensions["ruta_db"].engine
        with engine.connect() as connection:
            transaction = connection.begin()
            config = alembic_config()
            config.attributes["connection"] = connection
            try:
                assert _queue_tokens(connection) == 1
                triggers = _triggers(connection)
                command.downgrade(config, "0042")
                assert _triggers(connection) == set() and _queue_tokens(connection) == 0
                assert _kind_refused(connection)
                command.upgrade(config, "0043")
                assert _triggers(connection) == triggers and _queue_tokens(connection) == 1
            finally:
                transaction.rollback()
        return
    # SQLite: a copy of the migrated schema (its own file), down and up again.
    path = tmp_path / "ruta.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO secretarias (name, divipola, horizon_start_year, "
                                "horizon_years, page_stamp) VALUES ('S', '73', 2024, 3, 0)"))
    with engine.connect() as connection:
        triggers = _triggers(connection)
        assert len(triggers) > 10 and _queue_tokens(connection) == 1
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0042")
    with engine.connect() as connection:
        assert _triggers(connection) == set() and _queue_tokens(connection) == 0
        assert _kind_refused(connection)
    with engine.begin() as connection:
        # The earlier kinds' triggers still find the copied table.
        connection.execute(text("INSERT INTO schools (secretaria_id, dane_code, name, zona, "
                                "locality, search_key, sort_key, locality_sort, active, "
                                "created_at) SELECT id, '173001000001', 'IE', 'urbana', "
                                "'Comuna 1', 'ie', 'ie', 'comuna 1', 1, '2024-01-01' "
                                "FROM secretarias"))
    upgrade(engine)
    with engine.connect() as connection:
        assert _triggers(connection) == triggers and _queue_tokens(connection) == 1
    engine.dispose()
