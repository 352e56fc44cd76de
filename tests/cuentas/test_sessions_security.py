"""Sessions that end on the server, «Cuenta» with the open sessions, the security log and its
page, reset requests that neither leak accounts nor flood mailboxes (issue 15)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, Factory, WebClient
from tests.web.test_session_resume import (
    SIGN_IN_AGAIN,
    TYPED,
    admin_with_form_open,
    carried,
    hidden_fields,
    school_name,
    sign_in_again,
)
from workflow import outbox
from workflow.cuentas import accounts, invitations, security_log, tokens
from workflow.cuentas.models import SecurityEvent
from workflow.models import LoginFailure, OutboxMessage, User, UserSession, utcnow
from workflow.roles import Role

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/120.0.0.0 Safari/537.36")
FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0"


def client_as(app: Flask, address: str, agent: str) -> WebClient:
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": address, "HTTP_USER_AGENT": agent})
    return WebClient(client)


def signed_in(web: WebClient) -> bool:
    return web.client.get("/cuenta").status_code == 200


def age_sessions(db: Session, user: User, **changes: Any) -> None:
    db.execute(update(UserSession).where(UserSession.user_id == user.id).values(**changes))
    db.commit()


def kinds(db: Session) -> list[tuple[str, str]]:
    db.expire_all()
    return [(row.kind, row.outcome)
            for row in db.scalars(select(SecurityEvent).order_by(SecurityEvent.id))]


# --- S16: sessions end on the server ---------------------------------------------------------


def test_session_idle_past_the_limit_ends_on_the_server(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    web.login(user.email)
    idle = app.config["SESSION_IDLE_MINUTES"]
    assert idle == 120
    age_sessions(db, user, last_seen_at=utcnow() - timedelta(minutes=idle - 2))
    assert signed_in(web) is True
    age_sessions(db, user, last_seen_at=utcnow() - timedelta(minutes=idle + 1))
    assert signed_in(web) is False
    # Ended for good: the row is gone, not just refused once.
    assert db.scalars(select(UserSession).where(UserSession.user_id == user.id)).all() == []


def test_session_past_its_lifetime_ends_even_when_in_use(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    web.login(user.email)
    hours = app.config["SESSION_MAX_HOURS"]
    assert hours == 12
    age_sessions(db, user, created_at=utcnow() - timedelta(hours=hours, minutes=1),
                 last_seen_at=utcnow())
    assert signed_in(web) is False


def test_last_seen_is_written_by_a_get_at_most_once_a_minute(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    web.login(user.email)
    before = utcnow() - timedelta(minutes=3)
    age_sessions(db, user, last_seen_at=before)

    assert web.client.get("/revision/").status_code == 200
    db.expire_all()
    seen = db.scalar(select(UserSession.last_seen_at).where(UserSession.user_id == user.id))
    assert seen is not None and seen > before + timedelta(minutes=2)

    recent = utcnow() - timedelta(seconds=20)
    age_sessions(db, user, last_seen_at=recent)
    web.client.get("/revision/")
    db.expire_all()
    assert db.scalar(select(UserSession.last_seen_at)
                     .where(UserSession.user_id == user.id)) == recent


def test_form_posted_after_idle_timeout_keeps_typed_values_and_saves(
        app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    admin, school = admin_with_form_open(web, db, make)
    age_sessions(db, admin, last_seen_at=utcnow() - timedelta(hours=3))

    response = web.post(f"/admin/instituciones/{school.id}/editar", TYPED)
    page = response.get_data(as_text=True)
    assert (response.status_code, SIGN_IN_AGAIN in page, carried(page)) == (401, True, TYPED)
    assert school_name(db, school) == "Nombre Viejo"

    repost = sign_in_again(web, page, admin.email)
    fields = dict(hidden_fields(repost.get_data(as_text=True)))
    assert web.client.post(f"/admin/instituciones/{school.id}/editar",
                           data=fields).status_code == 302
    assert school_name(db, school) == TYPED["name"]


def test_account_page_lists_sessions_and_closes_the_others(
        app: Flask, db: Session, make: Factory) -> None:
    user = make.user(Role.RECTOR)
    db.commit()
    office = client_as(app, "198.51.100.20", CHROME_WINDOWS)
    phone = client_as(app, "198.51.100.21", FIREFOX_ANDROID)
    laptop = client_as(app, "198.51.100.22", FIREFOX_ANDROID)
    for browser in (office, phone, laptop):
        browser.login(user.email)

    page = office.get("/cuenta").get_data(as_text=True)
    assert "Chrome en Windows <span class=\"meta\">(este navegador)</span>" in page
    assert page.count("<th scope=\"row\">Firefox en Android</th>") == 2
    assert "198.51.100.21" in page and "Cerrar las demás sesiones" in page

    # One of them, by the handle the page gives it.
    [phone_row] = [row for row in accounts.active_sessions(db, user)
                   if row.address == "198.51.100.21"]
    closed = office.post("/cuenta/sesiones/cerrar",
                         {"sesion": accounts.session_handle(phone_row)})
    assert closed.status_code == 302
    assert (signed_in(office), signed_in(phone), signed_in(laptop)) == (True, False, True)

    office.get("/cuenta")
    office.post("/cuenta/sesiones/cerrar", {})
    assert (signed_in(office), signed_in(laptop)) == (True, False)
    assert "No hay otras sesiones abiertas" in office.get("/cuenta").get_data(as_text=True)
    closings = db.scalars(select(SecurityEvent.detail).where(
        SecurityEvent.kind == "session_closed").order_by(SecurityEvent.id)).all()
    assert closings == [{"sessions": 1}, {"sessions": 1}]


def test_another_persons_session_handle_closes_nothing(
        app: Flask, db: Session, make: Factory) -> None:
    owner, other = make.user(Role.RECTOR), make.user(Role.REVISOR)
    db.commit()
    victim = client_as(app, "198.51.100.30", CHROME_WINDOWS)
    victim.login(other.email)
    [row] = accounts.active_sessions(db, other)
    attacker = client_as(app, "198.51.100.31", CHROME_WINDOWS)
    attacker.login(owner.email)
    answer = attacker.post("/cuenta/sesiones/cerrar", {"sesion": accounts.session_handle(row)})
    assert answer.status_code == 302
    assert "no se cerró nada" in attacker.get("/cuenta").get_data(as_text=True)
    assert signed_in(victim) is True


@pytest.mark.parametrize(("agent", "described"), [
    (CHROME_WINDOWS, "Chrome en Windows"),
    (FIREFOX_ANDROID, "Firefox en Android"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", "Safari en iPhone"),
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 "
     "Edg/120.0", "Edge en Windows"),
    ("", "Navegador desconocido"),
    (None, "Navegador desconocido"),
])
def test_device_is_described_from_the_user_agent(agent: str | None, described: str) -> None:
    assert accounts.describe_device(agent) == described


# --- S35: the security log ---------------------------------------------------------------------


def test_failed_logins_stay_in_the_log_after_a_success_and_stream_as_json(
        app: Flask, db: Session, make: Factory, caplog: pytest.LogCaptureFixture) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    browser = client_as(app, "198.51.100.40", CHROME_WINDOWS)
    with caplog.at_level(logging.INFO, logger="ruta.security"):
        browser.post("/ingresar", {"email": user.email.upper(), "password": "mala-clave-1"})
        browser.post("/ingresar", {"email": "nadie@prueba.co", "password": "mala-clave-2"})
        browser.post("/ingresar", {"email": user.email, "password": PASSWORD})
    # The throttling counters forget the account's failure; the log does not.
    assert db.scalars(select(LoginFailure.email)).all() == ["nadie@prueba.co"]
    rows = db.scalars(select(SecurityEvent).order_by(SecurityEvent.id)).all()
    assert [(row.kind, row.outcome, row.user_id, row.email, row.address, row.user_agent)
            for row in rows] == [
        ("login_failed", "failed", user.id, user.email, "198.51.100.40", CHROME_WINDOWS),
        ("login_failed", "failed", None, "nadie@prueba.co", "198.51.100.40", CHROME_WINDOWS),
        ("login_ok", "ok", user.id, user.email, "198.51.100.40", CHROME_WINDOWS)]
    assert [row.secretaria_id for row in rows] == [user.secretaria_id, None,
                                                   user.secretaria_id]
    lines = [record.getMessage() for record in caplog.records if record.name == "ruta.security"]
    assert [json.loads(line)["kind"] for line in lines] == ["login_failed", "login_failed",
                                                            "login_ok"]
    assert json.loads(lines[1])["email"] == "nadie@prueba.co"
    assert not any("mala-clave" in line or PASSWORD in line for line in lines)


def test_rolled_back_event_is_not_streamed_and_secrets_are_dropped(
        app: Flask, db: Session, make: Factory, caplog: pytest.LogCaptureFixture) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    with caplog.at_level(logging.INFO, logger="ruta.security"):
        security_log.record(db, "logout", actor=user)
        db.rollback()
        row = security_log.record(db, "user_changed", actor=user,
                                  detail={"user_id": 7, "password": "x", "reset_token": "y"})
        db.commit()
    assert row.detail == {"user_id": 7}
    lines = [json.loads(record.getMessage()) for record in caplog.records
             if record.name == "ruta.security"]
    assert [(line["kind"], line["detail"]) for line in lines] == [("user_changed",
                                                                   {"user_id": 7})]
    with pytest.raises(ValueError, match="unknown security event kind"):
        security_log.record(db, "se_invento", actor=user)


def test_security_log_is_append_only_in_the_database(db: Session, make: Factory) -> None:
    user = make.user(Role.REVISOR)
    security_log.record(db, "login_ok", actor=user)
    db.commit()
    for statement in ("UPDATE security_events SET outcome = 'failed'",
                      "DELETE FROM security_events"):
        with pytest.raises(DatabaseError, match="security_events is append-only"):
            db.execute(text(statement))
        db.rollback()
    assert kinds(db) == [("login_ok", "ok")]


def test_account_changes_exports_and_denials_are_logged(
        app: Flask, db: Session, make: Factory, web_factory: Any) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    member = make.user(Role.REVISOR)
    outsider_school = make.school(make.secretaria("Secretaría de Educación del Tolima", "73"))
    db.commit()
    web = web_factory()
    web.login(admin.email)
    web.get(f"/admin/usuarios/{member.id}/editar")
    assert web.post(f"/admin/usuarios/{member.id}/editar", {
        "email": member.email, "name": member.name, "role": "consulta"}).status_code == 302
    web.get("/admin/usuarios")
    web.post(f"/admin/usuarios/{member.id}/desactivar", {})
    download = web.get("/reportes/consolidado.csv")
    assert (download.status_code, download.get_data()[:3]) == (200, "\ufeff".encode())
    download.close()
    assert web.get(f"/admin/instituciones/{outsider_school.id}/editar").status_code == 404
    web.post("/salir", {})
    events = db.scalars(select(SecurityEvent).where(SecurityEvent.kind != "login_ok")
                        .order_by(SecurityEvent.id)).all()
    assert [(row.kind, row.outcome, row.user_id) for row in events] == [
        ("user_changed", "ok", admin.id), ("user_deactivated", "ok", admin.id),
        ("export", "ok", admin.id), ("access_denied", "denied", admin.id),
        ("logout", "ok", admin.id)]
    assert events[0].detail == {"user_id": member.id, "changed": ["role"],
                                "role": ["revisor", "consulta"]}
    assert events[3].detail == {"status": 404, "method": "GET",
                                "path": f"/admin/instituciones/{outsider_school.id}/editar"}


def test_password_change_is_logged_without_the_password(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    web.login(user.email)
    web.post("/cuenta/contrasena", {"current": "no-es", "new": "x", "confirm": "x"})
    web.get("/cuenta/contrasena")
    web.post("/cuenta/contrasena", {"current": PASSWORD, "new": "una frase nueva y larga",
                                    "confirm": "una frase nueva y larga"})
    rows = db.scalars(select(SecurityEvent).where(SecurityEvent.kind.like("password%"))
                      .order_by(SecurityEvent.id)).all()
    assert [(row.kind, row.outcome, row.detail) for row in rows] == [
        ("password_change_failed", "failed", {"fields": ["current", "new"]}),
        ("password_changed", "ok", None)]


def security_page(web: WebClient, **query: str) -> str:
    response = web.get("/admin/seguridad", query_string=query)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_security_page_shows_only_its_secretarias_events_filtered(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR, email="admin@ibague.gov.co")
    ours = make.user(Role.RECTOR, email="rectora@ibague.gov.co")
    theirs = make.user(Role.RECTOR, email="rector@tolima.gov.co",
                       secretaria=make.secretaria("Secretaría de Educación del Tolima", "73"))
    old = utcnow() - timedelta(days=40)
    security_log.record(db, "login_failed", actor=ours, outcome="failed", address="192.0.2.1")
    security_log.record(db, "login_ok", actor=ours, address="192.0.2.2", now=old)
    security_log.record(db, "login_failed", actor=theirs, outcome="failed")
    security_log.record(db, "login_failed", email="inventado@ibague.gov.co", outcome="failed")
    db.commit()
    web.login(admin.email)

    everything = security_page(web)
    assert "rectora@ibague.gov.co" in everything and "192.0.2.2" in everything
    assert "rector@tolima.gov.co" not in everything
    assert "inventado@ibague.gov.co" not in everything
    failed = security_page(web, tipo="login_failed", resultado="failed", quien="rectora")
    assert ("192.0.2.1" in failed, "192.0.2.2" in failed) == (True, False)
    recent = security_page(web, desde=(utcnow() - timedelta(days=2)).date().isoformat())
    assert ("192.0.2.1" in recent, "192.0.2.2" in recent) == (True, False)
    by_name = security_page(web, quien=ours.name)
    assert "192.0.2.2" in by_name
    bad = security_page(web, desde="31/02/2025")
    assert "La fecha «31/02/2025» no es válida" in bad and "192.0.2.2" in bad


def test_security_page_is_for_administradores_only(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    web.login(user.email)
    assert web.get("/admin/seguridad").status_code == 403
    assert kinds(db)[-1] == ("access_denied", "denied")


# --- E16 and E26: reset requests ---------------------------------------------------------------


def test_reset_request_does_the_same_work_whether_or_not_the_account_exists(
        app: Flask, db: Session, make: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """E16: the same queries, one token hashed and one message rendered on both paths (not
    a timing test: what the server does before answering is what timing would reveal)."""
    user = make.user(Role.REVISOR)
    db.commit()
    calls: list[str] = []
    real_hash, real_render = tokens.token_hash, outbox.render
    monkeypatch.setattr(tokens, "token_hash", lambda token: calls.append("hash")
                        or real_hash(token))
    monkeypatch.setattr(outbox, "render", lambda kind, context: calls.append(f"render:{kind}")
                        or real_render(kind, context))
    monkeypatch.setattr(invitations, "render", outbox.render)
    engine: Engine = db.get_bind()  # type: ignore[assignment]
    reads: list[str] = []

    def count(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    def run(email: str) -> tuple[list[str], int]:
        calls.clear()
        reads.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            invitations.request_password_reset(db, email, address="198.51.100.50")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return list(calls), len(reads)

    (known_calls, known_reads), (unknown_calls, unknown_reads) = (
        run(user.email), run("nadie@prueba.co"))
    assert known_calls == unknown_calls == ["hash", "render:restablecer_contrasena"]
    assert known_reads == unknown_reads == 3  # the account, the two limits
    db.commit()
    assert len(db.scalars(select(OutboxMessage)).all()) == 1


def test_reset_requests_are_limited_per_address_with_the_same_answer(
        app: Flask, db: Session, make: Factory) -> None:
    """E26: ten accounts asked from one address: five mails, then the same neutral page and
    a throttled event, nothing sent; another address is not held."""
    users = [make.user(Role.REVISOR) for _ in range(6)]
    db.commit()
    browser = client_as(app, "198.51.100.60", CHROME_WINDOWS)
    browser.get("/recuperar-contrasena")
    answers = [browser.post("/recuperar-contrasena", {"email": user.email})
               for user in users]
    assert {(answer.status_code, answer.headers["Location"]) for answer in answers} == {
        (302, "/ingresar")}
    limit = app.config["RESET_MAX_PER_ADDRESS_PER_HOUR"]
    assert limit == 5
    sent = db.scalars(select(OutboxMessage.recipients).order_by(OutboxMessage.id)).all()
    assert sent == [[user.email] for user in users[:limit]]
    assert [outcome for kind, outcome in kinds(db)] == ["ok"] * limit + ["throttled"]

    other = client_as(app, "198.51.100.61", CHROME_WINDOWS)
    other.get("/recuperar-contrasena")
    other.post("/recuperar-contrasena", {"email": users[-1].email})
    assert len(db.scalars(select(OutboxMessage)).all()) == limit + 1


def test_reset_throttle_counts_only_the_last_hour(db: Session, make: Factory,
                                                  app: Flask) -> None:
    user = make.user(Role.REVISOR)
    earlier = utcnow() - timedelta(minutes=61)
    for _ in range(5):
        security_log.record(db, invitations.RESET_REQUESTED, actor=user,
                            address="198.51.100.70", now=earlier)
    db.commit()
    assert invitations.request_password_reset(db, user.email, address="198.51.100.70") is True


def test_security_log_file_gets_one_json_line_per_event(
        database_url: str, tmp_path: Any) -> None:
    from ruta import create_app
    from tests.conftest import app_config

    path = tmp_path / "seguridad.jsonl"
    app = create_app(app_config(database_url, SECURITY_LOG_FILE=str(path)))
    stream = logging.getLogger("ruta.security")
    try:
        client = WebClient(app.test_client())
        client.get("/ingresar")
        client.post("/ingresar", {"email": "nadie@prueba.co", "password": "mala-clave"})
    finally:
        for handler in [handler for handler in stream.handlers
                        if getattr(handler, "baseFilename", None) == str(path.resolve())]:
            stream.removeHandler(handler)
            handler.close()
        app.extensions["ruta_db"].dispose()
    [line] = path.read_text(encoding="utf-8").splitlines()
    written = json.loads(line)
    assert (written["kind"], written["outcome"], written["email"]) == (
        "login_failed", "failed", "nadie@prueba.co")
    assert "mala-clave" not in line


def test_session_and_reset_settings_have_safe_defaults() -> None:
    from ruta.config import load_config

    config = load_config({"RUTA_ENV": "development", "SESSION_IDLE_MINUTES": "30"})
    assert (config["SESSION_IDLE_MINUTES"], config["SESSION_MAX_HOURS"],
            config["RESET_MAX_PER_ADDRESS_PER_HOUR"], config["RESET_MAX_PER_ACCOUNT_PER_HOUR"],
            config["LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS"],
            config["SECURITY_LOG_FILE"]) == (30, 12, 5, 3, 5, None)
