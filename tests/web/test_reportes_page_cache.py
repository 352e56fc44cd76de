"""The consolidado's body kept per process (``blueprints.reportes.BODIES``): its key is complete.

A kept body is only right if everything it was drawn from is in its key: the Secretaría's
``consolidado`` token (migration 0042) for the data, the rest named by ``_body_key``. These
tests prove it from three sides, on both databases:

- every table the page reads when it draws the body is watched by a trigger of 0042 (or is
  the immutable catalog, or what the key names itself: the viewer, their export jobs);
- every watched table replaces the token when one of its rows is written, and other writes
  (a sign-in, a user renamed) keep it;
- a change made behind the services' back (bulk statements) is on the page at once, a page
  nobody changed is served without drawing it again, and what differs between addresses,
  sessions, days and moments never leaks from one to the other.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from blueprints import reportes
from ruta.db import db_session
from tests.conftest import WebClient
from tests.demo_copy import load_demo
from tests.page_cache_support import TablesRead, migration, tables_with_triggers
from tests.query_counter import counting_statements
from workflow import plain_rows, scope_versions
from workflow.consolidado import summary
from workflow.consolidado.models import ExportJob, RutaAggregate
from workflow.horizontes.models import HorizonCalendar
from workflow.models import Ruta, School, ScopeVersion, Secretaria, User
from workflow.roles import Role

# What the drawn body may read without the token watching it: the catalog's tree (its rows
# never change once stored), the session and the tokens themselves, and what the key names
# (the viewer's role, school, Secretaría and whether active; whether they have export jobs).
UNWATCHED_READS = frozenset({"catalog_areas", "catalog_procesos", "catalog_componentes",
                             "user_sessions", "scope_versions", "users", "export_jobs"})
URLS = ("/reportes/", "/reportes/?pagina=2", "/reportes/?orden=dias&dir=desc",
        "/reportes/?situacion=atencion", "/reportes/?estado=borrador",
        "/reportes/?zona=urbana", "/reportes/?horizonte=2024&orden=comuna")
# What a kept view sends: the session, the viewer's export jobs, the token.
KEPT_STATEMENTS = 3

MIGRATION = "0042_consolidado_versions.py"


def watched_tables(db: Session) -> set[str]:
    """The tables that carry a 0042 (consolidado token) trigger, as the database itself says."""
    return tables_with_triggers(db, "%consolidado_version%")


def token(db: Session, secretaria_id: int) -> str | None:
    db.commit()  # the triggers replace it when the change commits (on PostgreSQL)
    return db.scalar(select(ScopeVersion.token).where(
        ScopeVersion.secretaria_id == secretaria_id,
        ScopeVersion.kind == scope_versions.CONSOLIDADO))


def forget_everything() -> None:
    """Every memo the page draws from: the next view reads everything again."""
    scope_versions.clear_memos()
    for memo in (summary.SECTIONS, summary.PERFILES, summary.CHARTS,
                 reportes.PLAN_SECTIONS_HTML):
        memo.clear()


def signed_in(web: WebClient, db: Session, role: Role = Role.ADMINISTRADOR) -> User:
    person = db.scalars(select(User).where(User.role == role, User.active)
                        .order_by(User.id)).first()
    assert person is not None
    assert web.login(person.email).status_code == 302
    return person


def shown(html: str) -> str:
    """The page without its CSRF tokens (the session's, put back on each view)."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


def test_every_table_the_drawn_page_reads_is_watched(
        app: Flask, db: Session, web_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    load_demo(db)
    tables = TablesRead()
    # Only what the kept body is drawn from: the layout around it (the menu's badge, kept
    # under the «lists» token) is drawn on every view.
    monkeypatch.setattr(reportes, "_draw", tables.only_while(reportes._draw))
    engine = app.extensions["ruta_db"].engine
    for role in (Role.ADMINISTRADOR, Role.REVISOR, Role.CONSULTA):
        client: WebClient = web_factory()
        signed_in(client, db, role)
        with tables.listening(engine):
            for url in URLS:
                forget_everything()  # drawn, not served from a memo
                assert client.get(url).status_code == 200
    read = tables.read
    # The page's readers ran (a test that read nothing would pass).
    assert {"ruta_aggregates", "section_sums", "schools", "calendars", "catalogs",
            "secretarias", "rutas"} <= read
    assert read - UNWATCHED_READS <= watched_tables(db), (
        "The consolidado reads these tables without a trigger of migration 0042 (add one): "
        f"{sorted(read - UNWATCHED_READS - watched_tables(db))}")


def test_each_watched_table_replaces_the_token_when_a_row_is_written(db: Session) -> None:
    secretaria = load_demo(db)
    assert set(migration(MIGRATION).WATCHED) == watched_tables(db)
    exercised = []
    for table, (_, column, columns, events) in migration(MIGRATION).WATCHED.items():
        if "UPDATE" not in events:
            continue  # reminders' inserts: below
        rewritten = (columns or (column,))[0]
        found = db.execute(text(f"SELECT {rewritten} FROM {table} "  # noqa: S608
                                f"WHERE {rewritten} IS NOT NULL LIMIT 1")).first()
        if found is None:
            continue  # nothing of it in the demo: inserts and deletes are tested below
        before = token(db, secretaria.id)
        # Rewriting a watched column with its own value fires the triggers.
        db.execute(text(f"UPDATE {table} SET {rewritten} = {rewritten} "  # noqa: S608
                        f"WHERE {rewritten} = :value"), {"value": found[0]})
        assert token(db, secretaria.id) != before, f"{table} did not replace the token"
        exercised.append(table)
    assert len(exercised) >= 8, exercised


def test_inserts_and_deletes_replace_the_token(db: Session) -> None:
    secretaria = load_demo(db)
    school = db.scalars(select(School).order_by(School.id)).first()
    assert school is not None
    before = token(db, secretaria.id)
    ruta_id = db.scalar(insert(Ruta).returning(Ruta.id).values(
        school_id=school.id, horizon_start_year=2030, horizon_end_year=2032))
    inserted = token(db, secretaria.id)
    assert inserted != before
    db.execute(delete(Ruta).where(Ruta.id == ruta_id))
    deleted = token(db, secretaria.id)
    assert deleted != inserted
    db.execute(delete(RutaAggregate).where(RutaAggregate.school_id == school.id))
    assert token(db, secretaria.id) != deleted


def test_other_writes_keep_the_token(db: Session) -> None:
    secretaria = load_demo(db)
    before = token(db, secretaria.id)
    # A sign-in, a person renamed (their Secretaría's page stamp moves, not its horizon),
    # an export job asked for (the key says whether the viewer has one).
    person = db.scalars(select(User).order_by(User.id)).first()
    assert person is not None
    db.execute(update(User).where(User.id == person.id).values(
        last_login_at=datetime.now(UTC), name="Otro Nombre"))
    db.execute(insert(ExportJob).values(secretaria_id=secretaria.id,
                                        requested_by_id=person.id, horizon_start_year=2024))
    assert token(db, secretaria.id) == before


def test_a_national_catalog_replaces_every_token(db: Session) -> None:
    first = load_demo(db)
    second = Secretaria(name="Secretaría de Educación del Tolima", divipola="73",
                        horizon_start_year=2024, horizon_years=3)
    db.add(second)
    db.commit()
    db.execute(update(Secretaria).where(Secretaria.id == second.id).values(name="Tolima"))
    before = (token(db, first.id), token(db, second.id))
    assert None not in before
    national = db.execute(text("SELECT id FROM catalogs WHERE secretaria_id IS NULL "
                               "LIMIT 1")).scalar()
    assert national is not None
    db.execute(text("UPDATE catalogs SET title = title WHERE id = :id"), {"id": national})
    after = (token(db, first.id), token(db, second.id))
    assert after[0] != before[0] and after[1] != before[1]


def test_the_kept_page_follows_writes_made_behind_the_services_back(
        app: Flask, db: Session, web: WebClient) -> None:
    secretaria = load_demo(db)
    signed_in(web, db)
    first = web.get("/reportes/").get_data(as_text=True)
    with counting_statements(app) as kept:
        again = web.get("/reportes/").get_data(as_text=True)
    assert kept.count <= KEPT_STATEMENTS, kept.sent
    assert shown(first) == shown(again)

    def page() -> str:
        with counting_statements(app) as drawn:
            html = web.get("/reportes/").get_data(as_text=True)
        assert drawn.count > KEPT_STATEMENTS, "a change was served from the kept body"
        return html

    school = db.scalars(select(School).order_by(School.id)).first()
    assert school is not None
    db.execute(update(School).where(School.id == school.id)
               .values(name="AAA Institución Renombrada", sort_key="aaa institucion"))
    db.commit()
    assert "AAA Institución Renombrada" in page()
    db.execute(update(RutaAggregate).where(RutaAggregate.school_id == school.id)
               .values(seguimiento="Un avance escrito por fuera de la aplicación"))
    db.commit()
    assert "Un avance escrito por fuera de la aplicación" in page()
    db.execute(update(HorizonCalendar).where(
        HorizonCalendar.secretaria_id == secretaria.id,
        HorizonCalendar.horizon_start_year == 2024).values(pmi_deadline=date(2024, 7, 14)))
    db.commit()
    assert "Fecha límite del PMI: 14 de julio de 2024" in page()
    db.execute(update(Secretaria).where(Secretaria.id == secretaria.id)
               .values(horizon_start_year=2027))
    db.commit()
    assert "Horizonte 2027" in page()
    # A sign-in changes nothing the page shows: kept again after one more drawing.
    db.execute(update(User).values(last_login_at=datetime.now(UTC)))
    db.commit()
    web.get("/reportes/")
    with counting_statements(app) as after_sign_in:
        web.get("/reportes/")
    assert after_sign_in.count <= KEPT_STATEMENTS, after_sign_in.sent


def test_each_address_keeps_its_own_body(app: Flask, db: Session, web: WebClient) -> None:
    load_demo(db)
    app.config["QUEUE_PAGE_SIZE"] = 3  # a table of several pages
    signed_in(web, db)
    drawn = {url: shown(web.get(url).get_data(as_text=True)) for url in URLS}
    assert len(set(drawn.values())) == len(URLS)
    for url in URLS:
        with counting_statements(app) as kept:
            html = web.get(url).get_data(as_text=True)
        assert kept.count <= KEPT_STATEMENTS, (url, kept.sent)
        assert shown(html) == drawn[url], url
    forget_everything()
    assert {url: shown(web.get(url).get_data(as_text=True)) for url in URLS} == drawn


def test_a_name_given_twice_in_another_order_is_another_page(db: Session,
                                                              web: WebClient) -> None:
    """The page reads the first value of a name given twice: the key keeps the order."""
    load_demo(db)
    signed_in(web, db)
    urbana, rural = "/reportes/?zona=urbana&zona=rural", "/reportes/?zona=rural&zona=urbana"
    drawn = {url: shown(web.get(url).get_data(as_text=True)) for url in (urbana, rural)}
    assert drawn[urbana] != drawn[rural]
    forget_everything()
    assert shown(web.get(rural).get_data(as_text=True)) == drawn[rural]


def test_each_session_gets_its_own_csrf_token(db: Session, web_factory: Any) -> None:
    load_demo(db)
    tokens = []
    for _ in range(2):
        client: WebClient = web_factory()
        signed_in(client, db)
        html = client.get("/reportes/").get_data(as_text=True)
        found = set(re.findall(r'name="csrf_token" value="([^"]+)"', html))
        # The layout's and the export form's: the session's own.
        assert len(found) == 1 and len(re.findall('name="csrf_token"', html)) > 1
        tokens.append(found.pop())
    assert tokens[0] != tokens[1]


def test_an_export_job_shows_its_link_at_once(db: Session, web: WebClient) -> None:
    secretaria = load_demo(db)
    person = signed_in(web, db)
    link = "Exportaciones preparadas en segundo plano"
    assert link not in web.get("/reportes/").get_data(as_text=True)
    db.execute(insert(ExportJob).values(secretaria_id=secretaria.id,
                                        requested_by_id=person.id, horizon_start_year=2024))
    db.commit()
    assert link in web.get("/reportes/").get_data(as_text=True)


def _clock(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(reportes, "utcnow", lambda: moment)


def test_a_ruta_becoming_estancada_ends_the_kept_body(
        app: Flask, db: Session, web: WebClient, monkeypatch: pytest.MonkeyPatch) -> None:
    load_demo(db)
    signed_in(web, db)
    # 10:00 in Bogotá: the day does not end during the test.
    now = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC) + timedelta(
        hours=15)
    days = app.config["STALLED_DAYS"]
    school = db.scalars(select(School).order_by(School.id)).first()
    assert school is not None
    db.execute(update(RutaAggregate).values(owes=""))
    db.execute(update(RutaAggregate).where(RutaAggregate.school_id == school.id).values(
        owes="el envío de la autoevaluación",
        last_activity_at=now - timedelta(days=days) + timedelta(minutes=30)))
    db.commit()
    listed = f"debe el envío de la autoevaluación; {days} días sin movimiento"
    _clock(monkeypatch, now)
    assert "debe el envío" not in web.get("/reportes/?situacion=estancada").get_data(
        as_text=True)
    _clock(monkeypatch, now + timedelta(minutes=29))
    with counting_statements(app) as kept:
        assert "debe el envío" not in web.get("/reportes/?situacion=estancada").get_data(
            as_text=True)
    assert kept.count <= KEPT_STATEMENTS, kept.sent
    _clock(monkeypatch, now + timedelta(minutes=31))
    html = web.get("/reportes/?situacion=estancada").get_data(as_text=True)
    assert listed in html and school.name in html


def test_the_key_changes_at_midnight_in_bogota(app: Flask, db: Session, web: WebClient,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    load_demo(db)
    signed_in(web, db)
    # 04:59 and 05:00 UTC: 23:59 and 00:00 in Bogotá.
    _clock(monkeypatch, datetime(2026, 3, 2, 4, 59, tzinfo=UTC))
    web.get("/reportes/")
    _clock(monkeypatch, datetime(2026, 3, 2, 4, 59, 30, tzinfo=UTC))
    with counting_statements(app) as same_day:
        web.get("/reportes/")
    assert same_day.count <= KEPT_STATEMENTS, same_day.sent
    _clock(monkeypatch, datetime(2026, 3, 2, 5, 0, tzinfo=UTC))
    with counting_statements(app) as next_day:
        web.get("/reportes/")
    assert next_day.count > KEPT_STATEMENTS, next_day.sent


def test_a_body_drawn_while_writing_is_not_kept(app: Flask, db: Session,
                                                web: WebClient) -> None:
    load_demo(db)
    signed_in(web, db)
    # An aggregate gone (a bulk load): the page computes it itself, in a GET that never
    # commits, so what it drew is newer than the token and is drawn again next time.
    db.execute(delete(RutaAggregate).where(RutaAggregate.ruta_id == db.scalars(
        select(Ruta.id).order_by(Ruta.id)).first()))
    db.commit()
    web.get("/reportes/")
    with counting_statements(app) as again:
        web.get("/reportes/")
    assert again.count > KEPT_STATEMENTS, again.sent


# The driver's own placeholders: psycopg's and sqlite3's.
RENAME_BEHIND_THE_SESSION = {
    "%s": "UPDATE schools SET name = 'AAA Nunca Guardada' WHERE id = %s",
    "?": "UPDATE schools SET name = 'AAA Nunca Guardada' WHERE id = ?"}


def test_a_write_sent_straight_to_the_driver_is_never_kept(
        app: Flask, db: Session, web: WebClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write no session event sees (the outbox's raw inserter) between the token's two
    reads: the second read asks the database (not the request's read memo, which still holds
    the first one's «clean» answer), so the body drawn over it is not kept."""
    load_demo(db)
    signed_in(web, db)
    school = db.scalars(select(School).order_by(School.sort_key)).first()
    assert school is not None
    drawing = reportes._draw

    def written_then_drawn(jobs: bool) -> tuple[str, datetime | None]:
        driver = plain_rows.driver_for_writes(db_session())
        placeholder = "%s" if db.get_bind().dialect.name == "postgresql" else "?"
        driver.execute(RENAME_BEHIND_THE_SESSION[placeholder], (school.id,))
        return drawing(jobs)

    monkeypatch.setattr(reportes, "_draw", written_then_drawn)
    assert "AAA Nunca Guardada" in web.get("/reportes/").get_data(as_text=True)
    monkeypatch.setattr(reportes, "_draw", drawing)
    with counting_statements(app) as again:
        html = web.get("/reportes/").get_data(as_text=True)
    assert again.count > KEPT_STATEMENTS, again.sent
    assert "AAA Nunca Guardada" not in html  # the GET's transaction was rolled back
    assert school.name in html


def test_printing_draws_each_time(app: Flask, db: Session, web: WebClient) -> None:
    load_demo(db)
    signed_in(web, db)
    web.get("/reportes/imprimir")
    with counting_statements(app) as printed:
        html = web.get("/reportes/imprimir").get_data(as_text=True)
    assert printed.count > KEPT_STATEMENTS, printed.sent
    assert 'class="printable"' in html
