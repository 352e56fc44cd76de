"""The Ruta page's body kept per process (``workflow.page_stamps``): its key is complete.

A kept body is only right if everything it was drawn from is in its key. These tests prove
that from three sides, on both databases:

- every table the page reads when it draws the body is stamped by a trigger (or is the
  immutable catalog, or the session, which the body does not draw);
- every stamped table moves its owner's stamp when one of its rows is written, and a
  sign-in moves nothing;
- a change made behind the services' back (bulk statements) is on the page at once, while a
  page nobody changed is served without drawing it again; and what differs between viewers,
  days and forms never leaks from one to the other.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.demo_copy import load_demo
from tests.page_cache_support import TablesRead, migration, tables_with_triggers
from tests.query_counter import counting_statements
from workflow import page_stamps
from workflow.horizontes.models import ReminderRule, ReminderSent
from workflow.models import Base, Ruta, RutaTransition, School, User
from workflow.pmi.models import PmiSnapshot
from workflow.roles import Role
from workflow.states import State, Trigger

# What the page may read without a stamp: the catalog (its rows never change once stored;
# ``workflow.catalogo.models.Catalog``), and what only the layout around the body uses: the
# signed-in session and the version of the «Pendientes» badge's counts.
UNSTAMPED_READS = frozenset({"catalog_areas", "catalog_procesos", "catalog_componentes",
                             "user_sessions", "scope_versions"})
# Tables with a ruta_id the page never draws: the outbox (the administración's page) and the
# consolidado's own aggregates.
NOT_ON_THE_PAGE = frozenset({"outbox", "ruta_aggregates", "ruta_section_counts"})
# Stamped tables whose own triggers refuse UPDATE and DELETE (migrations 0001 and 0006).
WRITTEN_ONCE = frozenset({"ruta_transitions", "pmi_snapshots"})

MIGRATION = "0038_page_stamps.py"


def stamped_tables(db: Session) -> set[str]:
    """The tables that carry a page-stamp trigger, as the database itself says."""
    return tables_with_triggers(db, "page_stamp%")


def stamp(db: Session, owner: str, owner_id: int) -> int:
    return db.scalar(text(f"SELECT page_stamp FROM {owner} WHERE id = :id"),  # noqa: S608
                     {"id": owner_id})


def test_every_table_the_drawn_page_reads_is_stamped(app: Flask, db: Session,
                                                     web_factory: Any) -> None:
    load_demo(db)
    tables = TablesRead()

    viewers = [db.scalars(select(User).where(User.role == role)).first()
               for role in (Role.ADMINISTRADOR, Role.REVISOR, Role.CONSULTA)]
    rutas = db.scalars(select(Ruta).order_by(Ruta.id)).all()
    # The demo has a Ruta in each state: a page of one state alone would prove little.
    assert {ruta.state for ruta in rutas} == set(State)
    rectors = db.scalars(select(User).where(User.role == Role.RECTOR, User.active,
                                            User.password_hash.is_not(None))).all()
    engine = app.extensions["ruta_db"].engine
    for viewer in [*viewers, *rectors]:
        assert viewer is not None
        client: WebClient = web_factory()
        assert client.login(viewer.email).status_code == 302
        own = [ruta for ruta in rutas if viewer.school_id in (None, ruta.school_id)]
        with tables.listening(engine):
            for ruta in own:
                page_stamps.RUTA_BODIES.clear()  # drawn, not served from the memo
                assert client.get(f"/rutas/{ruta.id}").status_code == 200
    read = tables.read
    # The readers of every stage ran (a test that read nothing would pass).
    assert {"valoraciones", "pmi_metas", "pmi_actividades", "follow_up_reports",
            "plan_adjustment_changes", "reminders_sent", "ruta_transitions", "calendars",
            "users", "final_evaluations"} <= read
    assert read - UNSTAMPED_READS - {"rutas", "secretarias"} <= stamped_tables(db), (
        "The Ruta page reads these tables without a page-stamp trigger (add them to a new "
        "migration like 0038): "
        f"{sorted(read - UNSTAMPED_READS - {'rutas', 'secretarias'} - stamped_tables(db))}")


def test_every_table_with_a_ruta_is_stamped_or_not_on_the_page(db: Session) -> None:
    with_ruta = {name for name, table in Base.metadata.tables.items() if "ruta_id" in table.c}
    assert with_ruta - NOT_ON_THE_PAGE <= stamped_tables(db)
    assert NOT_ON_THE_PAGE.isdisjoint(stamped_tables(db))


def test_each_stamped_table_moves_its_owner_when_a_row_is_written(db: Session) -> None:
    load_demo(db)
    exercised = []
    for table, owner, column, parent in migration(MIGRATION)._triggered():
        if table in WRITTEN_ONCE:
            continue  # their rows are only ever inserted: the insert test covers them
        owner_column = "ruta_id" if owner == "rutas" else "secretaria_id"
        source = (f"SELECT t.{column}, p.{owner_column} FROM {table} t "  # noqa: S608
                  f"JOIN {parent} p ON p.id = t.{column}" if parent else
                  f"SELECT t.{column}, t.{column} FROM {table} t "  # noqa: S608
                  f"WHERE t.{column} IS NOT NULL")
        found = db.execute(text(source + " LIMIT 1")).first()
        if found is None:
            continue  # nothing of it in the demo: its insert is tested below
        value, owner_id = found
        before = stamp(db, owner, owner_id)
        # Rewriting the column with its own value fires the triggers; users' moves only on
        # a change a page can show (a_sign_in_moves_nothing below).
        change = "name = name || '.'" if table == "users" else f"{column} = {column}"
        db.execute(text(f"UPDATE {table} SET {change} "  # noqa: S608
                        f"WHERE {column} = :value"), {"value": value})
        assert stamp(db, owner, owner_id) > before, f"{table} did not move {owner}"
        exercised.append(table)
        db.rollback()
    # Most stamped tables have rows in the demo; the rest are covered by the insert test.
    assert len(exercised) >= 30, exercised


def test_inserting_and_deleting_rows_moves_the_stamp(db: Session, make: Factory) -> None:
    ruta = make.ruta()
    db.commit()
    inserted = stamp(db, "rutas", ruta.id)
    db.execute(insert(PmiSnapshot).values(ruta_id=ruta.id, number=1, content={},
                                          created_at=datetime.now(UTC)))
    snapshot = stamp(db, "rutas", ruta.id)
    assert snapshot > inserted
    # A reminder is counted by the key instead (migration 0041): its delete still moves it.
    reminder = db.scalar(insert(ReminderSent).returning(ReminderSent.id).values(
        ruta_id=ruta.id, rule=next(iter(ReminderRule)).value, occurrence_key="horizonte-2024",
        day=date(2024, 2, 1), summary="Recordatorio", recipients="rector@prueba.co",
        created_at=datetime.now(UTC)))
    assert stamp(db, "rutas", ruta.id) == snapshot
    db.execute(delete(ReminderSent).where(ReminderSent.id == reminder))
    deleted = stamp(db, "rutas", ruta.id)
    assert deleted > snapshot
    # A statement that wrote no row of the Ruta leaves it as it was.
    db.execute(delete(ReminderSent).where(ReminderSent.ruta_id == ruta.id))
    assert stamp(db, "rutas", ruta.id) == deleted
    # The other table only ever inserted into.
    db.execute(insert(RutaTransition).values(
        ruta_id=ruta.id, trigger=Trigger.ENVIAR_AUTOEVALUACION.value,
        from_state=State.BORRADOR, to_state=State.AUTOEVALUACION_ENVIADA,
        at=datetime.now(UTC), extra={}))
    assert stamp(db, "rutas", ruta.id) > deleted


def test_each_reminder_added_moves_the_key_whichever_commits_first(
        db: Session, make: Factory) -> None:
    ruta = make.ruta()
    db.commit()
    viewer = make.user(Role.ADMINISTRADOR, secretaria=ruta.school.secretaria)
    db.commit()

    def key() -> Any:
        heading, stamps = page_stamps.heading_in_scope(db, viewer, ruta.id)
        db.rollback()
        return page_stamps.body_key(heading.ruta_id, stamps, viewer, mounted_at="")

    keys = [key()]
    for number, rule in enumerate(list(ReminderRule)[:2]):
        # The later id first, then the earlier one (two passes committing out of order).
        db.execute(insert(ReminderSent).values(
            id=100 - number, ruta_id=ruta.id, rule=rule.value, occurrence_key="semana",
            day=date(2024, 2, 1), summary="Recordatorio", recipients="rector@prueba.co",
            created_at=datetime.now(UTC)))
        db.commit()
        keys.append(key())
    assert len(set(keys)) == 3
    assert page_stamps.heading_in_scope(db, viewer, ruta.id)[1].reminders == 2


def test_a_sign_in_moves_nothing_but_a_rename_does(db: Session, make: Factory) -> None:
    rector = make.user(Role.RECTOR)
    db.commit()
    secretaria_id = rector.secretaria_id
    before = stamp(db, "secretarias", secretaria_id)
    db.execute(update(User).where(User.id == rector.id).values(
        last_login_at=datetime.now(UTC), password_hash="otro"))
    assert stamp(db, "secretarias", secretaria_id) == before
    db.execute(update(User).where(User.id == rector.id).values(name="Otro Nombre"))
    assert stamp(db, "secretarias", secretaria_id) > before


def test_a_national_catalog_moves_every_secretaria(db: Session, make: Factory) -> None:
    first, second = make.secretaria(), make.secretaria(name="Secretaría de Educación del Tolima",
                                                       divipola="73")
    catalog = make.catalog()
    db.commit()
    before = (stamp(db, "secretarias", first.id), stamp(db, "secretarias", second.id))
    db.execute(update(type(catalog)).where(type(catalog).id == catalog.id)
               .values(secretaria_id=None))
    after = (stamp(db, "secretarias", first.id), stamp(db, "secretarias", second.id))
    assert after[0] > before[0] and after[1] > before[1]


def body_of(html: str) -> str:
    return html[html.index('<main id="contenido"'):]


def test_the_kept_page_follows_writes_made_behind_the_services_back(
        app: Flask, db: Session, web: WebClient) -> None:
    load_demo(db)
    admin = db.scalars(select(User).where(User.role == Role.ADMINISTRADOR)).one()
    ruta = db.scalars(select(Ruta).where(Ruta.reviewer_id.is_not(None))
                      .order_by(Ruta.id)).first()
    assert ruta is not None
    assert web.login(admin.email).status_code == 302
    first = web.get(f"/rutas/{ruta.id}").get_data(as_text=True)
    with counting_statements(app) as kept:
        again = web.get(f"/rutas/{ruta.id}").get_data(as_text=True)
    # Served from the memo: the session and the Ruta with its stamps, nothing drawn again.
    assert kept.count <= 3, kept.sent
    assert re.sub(r'value="[^"]*"', "", first) == re.sub(r'value="[^"]*"', "", again)

    def page() -> str:
        return body_of(web.get(f"/rutas/{ruta.id}").get_data(as_text=True))

    db.execute(update(School).where(School.id == ruta.school_id)
               .values(name="Institución Educativa Renombrada"))
    db.commit()
    assert "Institución Educativa Renombrada" in page()
    db.execute(update(User).where(User.id == ruta.reviewer_id)
               .values(name="Revisora Con Otro Nombre"))
    db.commit()
    assert "Revisora Con Otro Nombre" in page()
    db.execute(insert(RutaTransition).values(
        ruta_id=ruta.id, trigger=Trigger.CERRAR.value, from_state=ruta.state,
        to_state=State.CERRADO, at=datetime.now(UTC),
        observations="Un comentario escrito por fuera de la aplicación", extra={}))
    db.commit()
    assert "Un comentario escrito por fuera de la aplicación" in page()
    db.execute(insert(ReminderSent).values(
        ruta_id=ruta.id, rule=ReminderRule.PMI_VENCIDO.value, occurrence_key="fuera",
        day=date(2026, 1, 19), summary="Un recordatorio escrito por fuera de la aplicación",
        recipients="rector@prueba.co", created_at=datetime.now(UTC)))
    db.commit()
    assert "Un recordatorio escrito por fuera de la aplicación" in page()
    db.execute(update(Ruta).where(Ruta.id == ruta.id).values(state=State.CERRADO))
    db.commit()
    assert "Estado actual:" in (shown := page()) and State.CERRADO.label in shown
    db.execute(update(User).where(User.id == admin.id).values(last_login_at=datetime.now(UTC)))
    db.commit()
    with counting_statements(app) as after_sign_in:
        page()
    assert after_sign_in.count <= 3, after_sign_in.sent


def test_kept_bodies_get_fresh_form_tokens_and_the_session_csrf(
        db: Session, web: WebClient) -> None:
    load_demo(db)
    admin = db.scalars(select(User).where(User.role == Role.ADMINISTRADOR)).one()
    assert web.login(admin.email).status_code == 302
    # A page with a form that carries a form token (a prórroga, an adjustment to propose).
    ruta_id = next(ruta_id for ruta_id in db.scalars(select(Ruta.id).order_by(Ruta.id))
                   if 'name="form_token"' in web.get(f"/rutas/{ruta_id}").get_data(as_text=True))
    pages = [web.get(f"/rutas/{ruta_id}").get_data(as_text=True) for _ in range(3)]
    tokens = [re.findall(r'name="form_token" value="([^"]+)"', html) for html in pages]
    csrf = [set(re.findall(r'name="csrf_token" value="([^"]+)"', html)) for html in pages]
    every = [token for found in tokens for token in found]
    assert len(set(every)) == len(every), "a form token was served twice"
    # One CSRF token per page, the layout's and every form's: the session's own.
    assert all(len(found) == 1 for found in csrf)
    assert len(re.findall(r'name="csrf_token"', pages[2])) > 1


def test_each_viewer_gets_their_own_body(db: Session, make: Factory,
                                         web_factory: Any) -> None:
    ruta = make.ruta(state=State.EN_REVISION)
    holder = make.user(Role.REVISOR, secretaria=ruta.school.secretaria)
    other = make.user(Role.REVISOR, secretaria=ruta.school.secretaria)
    ruta.reviewer_id = holder.id
    db.commit()
    pages = {}
    for person in (holder, other):
        client = web_factory()
        assert client.login(person.email).status_code == 302
        pages[person.id] = client.get(f"/rutas/{ruta.id}").get_data(as_text=True)
    assert f"Tomar de {holder.name}" in pages[other.id]
    assert f"Tomar de {holder.name}" not in pages[holder.id]
    assert "Decidir en la revisión del PMI" in pages[holder.id]
    assert "Decidir en la revisión del PMI" not in pages[other.id]


def test_the_key_changes_at_midnight_in_bogota(db: Session, make: Factory,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ruta = make.ruta()
    viewer = make.user(Role.ADMINISTRADOR, secretaria=ruta.school.secretaria)
    stamps = page_stamps.Stamps(1, 1)
    keys = []
    # 04:59 and 05:00 UTC: 23:59 and 00:00 in Bogotá.
    for moment in (datetime(2026, 3, 2, 4, 59, tzinfo=UTC), datetime(2026, 3, 2, 5, 0,
                                                                       tzinfo=UTC)):
        monkeypatch.setattr(page_stamps, "utcnow", lambda moment=moment: moment)
        keys.append(page_stamps.body_key(ruta.id, stamps, viewer, mounted_at=""))
    assert keys[0] != keys[1]


def test_migration_0041_drops_only_the_reminders_insert_trigger_and_back(
        tmp_path: Path) -> None:
    from alembic import command

    from ruta.db import make_engine
    from ruta.migrate import alembic_config, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'ruta.db'}")

    def triggers() -> set[str]:
        with engine.connect() as connection:
            return set(connection.scalars(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'reminders_sent' AND name LIKE 'page_stamp%'")))

    upgrade(engine)
    assert triggers() == {"page_stamp_reminders_sent_update", "page_stamp_reminders_sent_delete"}
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0040")
    assert triggers() == {"page_stamp_reminders_sent_insert", "page_stamp_reminders_sent_update",
                          "page_stamp_reminders_sent_delete"}
    upgrade(engine)
    assert "page_stamp_reminders_sent_insert" not in triggers()
    engine.dispose()
