"""Issue 17, item 7: the outbox keeps the audit of what it sent, not the bodies forever; and
«Correo saliente» counts the Secretaría's messages once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

import jobs.daily
from jobs.daily import run_daily_pass
from ruta import create_app
from ruta.config import ConfigError, load_config
from tests.conftest import Factory, WebClient, app_config
from tests.core.test_outbox import BASE_URL, queue
from workflow import scope_versions
from workflow.correo import retention
from workflow.correo.reminder_pass import DAILY_JOB, has_run
from workflow.models import OutboxMessage, OutboxStatus, User
from workflow.roles import Role

NOW = datetime(2024, 9, 1, 11, 0, tzinfo=UTC)
RETENTION = timedelta(days=retention.DEFAULT_RETENTION_DAYS)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """conftest's app, with a public address for the messages' links."""
    application = create_app(app_config(database_url, RUTA_BASE_URL=BASE_URL))
    yield application
    application.extensions["ruta_db"].dispose()


@pytest.fixture
def admin(db: Session, make: Factory) -> User:
    user = make.user(Role.ADMINISTRADOR, email="admin@ibague.gov.co")
    db.commit()
    return user


@contextmanager
def whole_statements(app: Flask) -> Iterator[list[str]]:
    """Every statement the app sends inside the block, whole (the counter cuts them)."""
    engine = app.extensions["ruta_db"].engine
    seen: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def sent(db: Session, admin: User, key: str, at: datetime, **values: object) -> OutboxMessage:
    return queue(db, admin.secretaria, key, kind="pmi_aprobado", status=OutboxStatus.SENT,
                 attempts=1, sent_at=at, **values)


def stored(db: Session, message: OutboxMessage) -> OutboxMessage:
    db.expire_all()
    row = db.get(OutboxMessage, message.id)
    assert row is not None
    return row


def test_prune_empties_the_bodies_of_messages_sent_longer_ago_than_the_retention(
        db: Session, admin: User) -> None:
    exactly = sent(db, admin, "exacto", NOW - RETENTION)
    older = sent(db, admin, "mas-viejo", NOW - RETENTION - timedelta(seconds=1),
                 cc=["equipo@sansimon.edu.co"], secret_link="https://ruta.example/x/secreto")
    recent = sent(db, admin, "reciente", NOW - timedelta(days=3))
    failed = queue(db, admin.secretaria, "fallido", status=OutboxStatus.FAILED,
                   created_at=NOW - RETENTION * 2, last_error="554 spam")
    pending = queue(db, admin.secretaria, "pendiente", created_at=NOW - RETENTION * 2)
    before = {row.id: (row.subject, row.recipients, row.cc, row.status, row.sent_at,
                       row.created_at, row.attempts)
              for row in (exactly, older, recent, failed, pending)}

    assert retention.prune_sent(db, now=NOW) == 1
    db.commit()

    pruned = stored(db, older)
    assert (pruned.text_body, pruned.html_body, pruned.secret_link, pruned.body_pruned_at) == (
        "", "", None, NOW)
    # The audit of what was sent stays: who, when, what about, how it went.
    assert (pruned.subject, pruned.recipients, pruned.cc, pruned.status, pruned.sent_at,
            pruned.created_at, pruned.attempts) == before[older.id]
    assert pruned.subject == "PMI aprobado: Institución Educativa San Simón"
    # Sent exactly 180 days ago, sent lately, failed or waiting: whole.
    for kept in (exactly, recent, failed, pending):
        row = stored(db, kept)
        assert row.body_pruned_at is None and row.text_body and row.html_body
        assert (row.subject, row.recipients, row.cc, row.status, row.sent_at,
                row.created_at, row.attempts) == before[kept.id]
    # A second pass the next day finds the first one's message sent 180 days + 1 day ago.
    assert retention.prune_sent(db, now=NOW + timedelta(days=1)) == 1
    db.commit()
    assert stored(db, exactly).body_pruned_at == NOW + timedelta(days=1)
    assert stored(db, older).body_pruned_at == NOW  # not pruned twice


def test_daily_pass_prunes_with_the_configured_retention(app: Flask, db: Session,
                                                         admin: User) -> None:
    app.config["OUTBOX_RETENTION_DAYS"] = 30
    old = sent(db, admin, "viejo", NOW - timedelta(days=30, minutes=1))
    kept = sent(db, admin, "al-limite", NOW - timedelta(days=30))

    result = run_daily_pass(app, now=NOW)

    assert (result.ran, result.pruned_messages) == (True, 1)
    assert stored(db, old).body_pruned_at == NOW
    assert stored(db, kept).body_pruned_at is None
    # The pass of a day runs once: nothing more that day.
    db.execute(update(OutboxMessage).where(OutboxMessage.id == kept.id)
               .values(sent_at=NOW - timedelta(days=31)))
    db.commit()
    assert run_daily_pass(app, now=NOW + timedelta(hours=1)).pruned_messages == 0


def test_a_failed_pass_leaves_its_day_unclaimed_and_prunes_where_it_says(
        app: Flask, db: Session, admin: User, monkeypatch: pytest.MonkeyPatch) -> None:
    old = sent(db, admin, "viejo", NOW - RETENTION - timedelta(minutes=1))

    def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("las reglas fallaron")

    monkeypatch.setattr(jobs.daily, "evaluate_reminders", fail)
    with pytest.raises(RuntimeError, match="las reglas fallaron"):
        run_daily_pass(app, now=NOW)
    postgres = db.get_bind().dialect.name == "postgresql"
    # On PostgreSQL the prune is its own transaction, beside the reminders: it stays; on
    # SQLite it is the pass's, rolled back with it.
    assert stored(db, old).body_pruned_at == (NOW if postgres else None)
    assert not has_run(db, job=DAILY_JOB, day=NOW.date())
    db.rollback()
    monkeypatch.undo()
    result = run_daily_pass(app, now=NOW)
    assert (result.ran, result.pruned_messages) == (True, 0 if postgres else 1)
    assert stored(db, old).body_pruned_at == NOW


def test_retention_setting_defaults_to_180_days_and_refuses_zero() -> None:
    assert load_config({})["OUTBOX_RETENTION_DAYS"] == 180
    assert load_config({"OUTBOX_RETENTION_DAYS": "365"})["OUTBOX_RETENTION_DAYS"] == 365
    with pytest.raises(ConfigError, match="OUTBOX_RETENTION_DAYS"):
        load_config({"OUTBOX_RETENTION_DAYS": "0"})


def test_message_page_says_the_text_was_removed(db: Session, web: WebClient,
                                                admin: User) -> None:
    message = sent(db, admin, "viejo", NOW - RETENTION - timedelta(days=1))
    retention.prune_sent(db, now=NOW)
    db.commit()
    web.login(admin.email)

    html = web.get(f"/admin/correo/{message.id}").get_data(as_text=True)

    assert "El texto de este mensaje se borró el" in html
    assert "Quedan como constancia los destinatarios, el asunto, el estado y las fechas." in html
    assert "PMI aprobado: Institución Educativa San Simón" in html
    assert "rectora@sansimon.edu.co" in html


def test_outbox_page_counts_the_secretarias_messages_once(
        app: Flask, db: Session, web: WebClient, admin: User) -> None:
    for number in range(3):
        sent(db, admin, f"enviado-{number}", NOW - timedelta(days=number))
    queue(db, admin.secretaria, "fallido", status=OutboxStatus.FAILED, last_error="554 spam")
    queue(db, admin.secretaria, "pendiente")
    web.login(admin.email)
    scope_versions.clear_memos()

    for first, (url, total) in zip((True, False, False), (
            ("/admin/correo/", "5 mensajes."),
            ("/admin/correo/?estado=sent", "3 mensajes en «enviado»."),
            ("/admin/correo/?estado=unknown", "0 mensajes en «incierto»")), strict=True):
        with whole_statements(app) as statements:
            html = web.get(url).get_data(as_text=True)
        assert total in html
        assert ">Todos (5)</a>" in html and "Fallido (1)</a>" in html
        outbox_reads = [sql for sql in statements if "FROM outbox" in sql]
        # One count by status (the first view: the next ones find it kept, as long as no
        # message changes), one page of rows (without their bodies): never a second count.
        assert len(outbox_reads) == (2 if first else 1), outbox_reads
        if first:
            assert "GROUP BY outbox.status" in outbox_reads[0]
        assert "text_body" not in outbox_reads[-1] and "LIMIT" in outbox_reads[-1]
        # With the session, the Secretaría's tokens and (the first time) the menu's badge.
        assert len(statements) == (5 if first else 3), statements


def test_prune_reports_how_many_rows_it_emptied(db: Session, admin: User) -> None:
    for number in range(12):
        sent(db, admin, f"lote-{number}", NOW - RETENTION - timedelta(days=number + 1))
    assert retention.prune_sent(db, now=NOW) == 12
    db.commit()
    assert db.scalars(select(OutboxMessage.body_pruned_at).distinct()).all() == [NOW]

