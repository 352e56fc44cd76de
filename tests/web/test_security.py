"""The security baseline: CSRF, cookies, ending sessions, login throttling, redirects, headers
and the error page. Every POST here carries a real CSRF token unless the test is about it."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from blueprints.access import public
from ruta import create_app
from ruta.config import PROJECT_ROOT
from ruta.errors import TITLES
from tests.conftest import PASSWORD, Factory, WebClient, app_config
from tests.web.test_access import (
    CSRF_MESSAGE,
    Route,
    World,
    allowed_roles,
    build_world,
    parametrize_routes,
    snapshot,
    url_for_route,
)
from workflow.cuentas import accounts
from workflow.models import LoginFailure, User, UserSession, utcnow
from workflow.roles import Role

THROTTLED = ("Demasiados intentos fallidos. Por seguridad, espere 15 minutos antes de "
             "intentarlo de nuevo.")
WRONG = "El correo o la contraseña no son correctos."
GENERIC_500 = TITLES[500]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_routes(metafunc)



def client_at(app: Flask, address: str) -> WebClient:
    """A browser whose requests come from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return WebClient(client)


def attempt(client: WebClient, email: str, password: str, **kwargs: Any) -> tuple[int, str]:
    response = client.post("/ingresar", {"email": email, "password": password}, **kwargs)
    return response.status_code, response.get_data(as_text=True)


def signed_in(client: WebClient, url: str = "/cuenta/contrasena") -> bool:
    response = client.get(url)
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/ingresar")
    return False


# --- CSRF -------------------------------------------------------------------------------------


@pytest.fixture
def world(app: Flask, db: Session, make: Factory,
          web_factory: Callable[[], WebClient]) -> World:
    return build_world(app, db, make, web_factory)


def _poster(world: World, route: Route) -> WebClient:
    """Someone who may send this form: an allowed role, or a visitor for a public one."""
    roles = allowed_roles(world.app, route.endpoint)
    if roles is None:
        visitor = world.web_factory()
        visitor.get("/ingresar")
        return visitor
    return world.client(sorted(roles)[0])


def test_post_route_refuses_missing_csrf_token(post_route: Route, world: World) -> None:
    url = url_for_route(world.app, post_route, world.in_scope)
    poster = _poster(world, post_route)
    before = snapshot(world.app)
    response = poster.post(url, {"email": world.users[Role.REVISOR].email,
                                 "password": PASSWORD}, csrf=False)
    page = response.get_data(as_text=True)
    assert (response.status_code, TITLES[400] in page, CSRF_MESSAGE in page) == (400, True, True)
    assert snapshot(world.app) == before


def test_post_route_refuses_token_of_another_session(post_route: Route, world: World) -> None:
    url = url_for_route(world.app, post_route, world.in_scope)
    poster = _poster(world, post_route)
    stranger = world.web_factory()
    stranger.get("/ingresar")
    assert stranger.token and stranger.token != poster.token
    before = snapshot(world.app)
    answers = []
    for token in (stranger.token, "x" * len(stranger.token), ""):
        response = poster.post(url, {"csrf_token": token,
                                     "email": world.users[Role.REVISOR].email,
                                     "password": PASSWORD})
        answers.append((response.status_code, CSRF_MESSAGE in response.get_data(as_text=True)))
    assert answers == [(400, True)] * 3
    assert snapshot(world.app) == before


def test_csrf_is_enabled_in_the_app_under_test(app: Flask) -> None:
    assert app.config["WTF_CSRF_ENABLED"] is True


# --- the session cookie -----------------------------------------------------------------------


def _session_cookie(response: Any, name: str = "ruta_sesion") -> set[str]:
    headers = [header for header in response.headers.getlist("Set-Cookie")
               if header.startswith(f"{name}=")]
    assert len(headers) == 1
    return {part.strip() for part in headers[0].split(";")[1:]}


def test_session_cookie_is_httponly_lax_and_not_secure_in_development(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    web.get("/ingresar")
    response = web.post("/ingresar", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert _session_cookie(response) == {"HttpOnly", "Path=/", "SameSite=Lax"}
    assert "Strict-Transport-Security" not in response.headers


def test_session_cookie_is_secure_in_production(database_url: str, db: Session,
                                                make: Factory) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    production = create_app(app_config(database_url, RUTA_ENV="production", TESTING=False,
                                       SECRET_KEY=secrets.token_urlsafe(48)))
    try:
        browser = WebClient(production.test_client())
        page = browser.get("/ingresar", base_url="https://localhost")
        assert page.status_code == 200
        response = browser.post("/ingresar", {"email": user.email, "password": PASSWORD},
                                base_url="https://localhost",
                                headers={"Referer": "https://localhost/ingresar"})
        assert response.status_code == 302
        # The «__Host-» prefix: Secure, Path=/ and no Domain, or browsers refuse it.
        assert _session_cookie(response, "__Host-ruta_sesion") == {
            "Secure", "HttpOnly", "Path=/", "SameSite=Lax"}
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    finally:
        production.extensions["ruta_db"].dispose()


# --- ending sessions --------------------------------------------------------------------------


def test_logout_ends_session_even_for_a_copied_cookie(
        app: Flask, db: Session, make: Factory, web_factory: Callable[[], WebClient]) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    original = web_factory()
    original.login(user.email)
    copy = web_factory()
    cookie = original.client.get_cookie("ruta_sesion")
    assert cookie is not None
    copy.client.set_cookie("ruta_sesion", cookie.value)
    assert signed_in(copy) is True  # the copy works while the session lives

    response = original.post("/salir")
    assert (response.status_code, response.headers["Location"]) == (302, "/ingresar")
    assert (signed_in(original), signed_in(copy)) == (False, False)
    assert db.scalar(select(func.count()).select_from(UserSession)
                     .where(UserSession.user_id == user.id)) == 0


def test_logout_leaves_other_sessions_of_the_user(
        app: Flask, db: Session, make: Factory, web_factory: Callable[[], WebClient]) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    office, home = web_factory(), web_factory()
    office.login(user.email)
    home.login(user.email)
    office.post("/salir")
    assert (signed_in(office), signed_in(home)) == (False, True)


def test_deactivation_ends_every_session_of_the_user(
        app: Flask, db: Session, make: Factory, web_factory: Callable[[], WebClient]) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    user = make.user(Role.RECTOR)
    db.commit()
    first, second = web_factory(), web_factory()
    first.login(user.email)
    second.login(user.email)
    assert (signed_in(first), signed_in(second)) == (True, True)

    accounts.set_user_active(db, db.get(User, user.id), actor=db.get(User, admin.id),
                             active=False)
    db.commit()
    assert (signed_in(first), signed_in(second)) == (False, False)

    # Reactivating does not bring the old sessions back.
    accounts.set_user_active(db, db.get(User, user.id), actor=db.get(User, admin.id),
                             active=True)
    db.commit()
    assert (signed_in(first), signed_in(second)) == (False, False)


def test_password_change_ends_other_sessions_and_keeps_this_one(
        app: Flask, db: Session, make: Factory, web_factory: Callable[[], WebClient]) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    here, elsewhere = web_factory(), web_factory()
    here.login(user.email)
    elsewhere.login(user.email)
    new_password = "una frase nueva y larga"
    response = here.post("/cuenta/contrasena", {"current": PASSWORD, "new": new_password,
                                                "confirm": new_password})
    assert (response.status_code, response.headers["Location"]) == (302, "/revision/")
    assert (signed_in(here), signed_in(elsewhere)) == (True, False)
    assert db.scalar(select(func.count()).select_from(UserSession)
                     .where(UserSession.user_id == user.id)) == 1


def test_password_set_through_a_reset_link_ends_sessions(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    # What a reset link does, whoever opened it: a session left open elsewhere ends.
    user = make.user(Role.REVISOR)
    db.commit()
    web.login(user.email)
    accounts.set_password(db, db.get(User, user.id), "una clave de recuperacion",
                          passwords=app.extensions["ruta_passwords"])
    db.commit()
    assert signed_in(web) is False


# --- login throttling -------------------------------------------------------------------------


class CountingHasher(PasswordHasher):
    """The real Argon2 hasher, counting its work: an instrument, not a stand-in."""

    calls = 0

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.calls += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.calls += 1
        return super().verify(hash, password)


def count_hashing(app: Flask) -> CountingHasher:
    passwords = app.extensions["ruta_passwords"]
    hasher = CountingHasher(time_cost=passwords.hasher.time_cost,
                            memory_cost=passwords.hasher.memory_cost,
                            parallelism=passwords.hasher.parallelism)
    passwords.hasher = hasher
    return hasher


def test_login_throttles_account_after_limit_without_hashing(
        app: Flask, db: Session, make: Factory) -> None:
    user = make.user(Role.RECTOR)
    db.commit()
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    assert limit == 10
    hasher = count_hashing(app)
    # Each from its own address: only the account limit can apply.
    failures = [attempt(client_at(app, f"198.51.100.{n}"), user.email, "no-es-la-clave")
                for n in range(limit)]
    assert [(status, WRONG in page) for status, page in failures] == [(401, True)] * limit
    # The instrument sees every verification, and the unknown-account dummy the process's
    # first sign-in makes (``Passwords._dummy``).
    assert hasher.calls == limit + 1

    hasher.calls = 0
    browser = client_at(app, "198.51.100.200")
    status, page = attempt(browser, user.email.upper(), PASSWORD)
    assert (status, THROTTLED in page, WRONG in page) == (429, True, False)
    assert hasher.calls == 0
    assert signed_in(browser) is False
    assert db.scalar(select(User.last_login_at).where(User.id == user.id)) is None


def test_login_below_account_limit_accepts_right_password(
        app: Flask, db: Session, make: Factory) -> None:
    user = make.user(Role.RECTOR)
    db.commit()
    browser = client_at(app, "198.51.100.1")
    # From one address the lower of the account's limits applies: that and its address.
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS"] - 1):
        assert attempt(browser, user.email, "no-es-la-clave")[0] == 401
    assert attempt(browser, user.email, PASSWORD)[0] == 302
    # Success clears the account's failures.
    assert db.scalar(select(func.count()).select_from(LoginFailure)
                     .where(LoginFailure.email == user.email)) == 0


def test_login_failures_older_than_window_do_not_count(
        app: Flask, db: Session, make: Factory) -> None:
    user = make.user(Role.RECTOR)
    old = utcnow() - timedelta(minutes=app.config["LOGIN_WINDOW_MINUTES"], seconds=1)
    db.add_all([LoginFailure(email=user.email, address="198.51.100.1", at=old)
                for _ in range(20)])
    db.commit()
    assert attempt(client_at(app, "198.51.100.1"), user.email, PASSWORD)[0] == 302


def failures_from(db: Session, address: str, count: int, *, email: str = "") -> None:
    """``count`` recent failed sign-ins from ``address`` (invented e-mails unless ``email``),
    written directly: what a guesser spraying the address leaves behind."""
    moment = utcnow()
    db.add_all([LoginFailure(email=email or f"inventado{n}@prueba.co", address=address,
                             at=moment) for n in range(count)])
    db.commit()


def test_login_address_limit_spares_accounts_known_at_that_address(
        app: Flask, db: Session, make: Factory) -> None:
    """E17: a guesser behind a school's public address no longer locks the school out:
    past the per-address limit, an account that signed in from there recently still signs
    in; a new e-mail from there (real or invented) waits, unhashed; elsewhere nobody waits."""
    regular, newcomer = make.user(Role.RECTOR), make.user(Role.EQUIPO)
    db.commit()
    school_address = "203.0.113.9"
    assert attempt(client_at(app, school_address), regular.email, PASSWORD)[0] == 302
    limit = app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    assert limit == 100
    failures_from(db, school_address, limit)

    hasher = count_hashing(app)
    assert attempt(client_at(app, school_address), regular.email, PASSWORD)[0] == 302
    assert hasher.calls == 1
    hasher.calls = 0
    new_status, new_page = attempt(client_at(app, school_address), newcomer.email, PASSWORD)
    invented_status, invented_page = attempt(client_at(app, school_address),
                                             "otro.inventado@prueba.co", PASSWORD)
    assert (new_status, THROTTLED in new_page, invented_status,
            THROTTLED in invented_page, hasher.calls) == (429, True, 429, True, 0)
    assert attempt(client_at(app, "203.0.113.10"), newcomer.email, PASSWORD)[0] == 302


def test_login_below_address_limit_lets_a_new_account_in(
        app: Flask, db: Session, make: Factory) -> None:
    user = make.user(Role.RECTOR)
    db.commit()
    failures_from(db, "203.0.113.9", app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] - 1)
    assert attempt(client_at(app, "203.0.113.9"), user.email, PASSWORD)[0] == 302


def test_login_account_and_address_limit_stops_one_machine_not_the_owner(
        app: Flask, db: Session, make: Factory) -> None:
    user = make.user(Role.RECTOR)
    db.commit()
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS"]
    assert limit == 5
    guesser = client_at(app, "198.51.100.66")
    assert [attempt(guesser, user.email, "no-es-la-clave")[0]
            for _ in range(limit)] == [401] * limit
    assert attempt(guesser, user.email, PASSWORD)[0] == 429
    # The owner, at their own machine, is not held by someone else's guessing.
    assert attempt(client_at(app, "198.51.100.1"), user.email, PASSWORD)[0] == 302


def test_login_throttle_holds_across_app_instances(
        app: Flask, database_url: str, db: Session, make: Factory) -> None:
    """Two ``create_app`` on one database: what two web processes behind a balancer see."""
    user = make.user(Role.RECTOR)
    db.commit()
    other_process = create_app(app_config(database_url))
    try:
        hasher = count_hashing(other_process)
        limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
        for n in range(limit):
            assert attempt(client_at(app, f"198.51.100.{n}"), user.email, "mala-clave")[0] == 401
        status, page = attempt(client_at(other_process, "198.51.100.99"), user.email, PASSWORD)
        assert (status, THROTTLED in page, hasher.calls) == (429, True, 0)
    finally:
        other_process.extensions["ruta_db"].dispose()


def test_login_ignores_forwarded_address_without_trusted_proxy(
        app: Flask, db: Session) -> None:
    browser = client_at(app, "198.51.100.7")
    attempt(browser, "alguien@prueba.co", "mala-clave",
            headers={"X-Forwarded-For": "203.0.113.50"})
    assert db.scalars(select(LoginFailure.address)).all() == ["198.51.100.7"]


def test_login_address_limit_not_escaped_by_forged_forwarded_for(
        app: Flask, db: Session, make: Factory) -> None:
    user = make.user(Role.RECTOR)
    db.commit()
    failures_from(db, "198.51.100.7", app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"])
    status, page = attempt(client_at(app, "198.51.100.7"), user.email, PASSWORD,
                           headers={"X-Forwarded-For": "192.0.2.1"})
    assert (status, THROTTLED in page) == (429, True)


def test_login_uses_address_set_by_trusted_proxy(database_url: str, db: Session) -> None:
    behind_proxy = create_app(app_config(database_url, TRUSTED_PROXIES=1))
    try:
        browser = client_at(behind_proxy, "10.0.0.2")  # the load balancer
        # The client forged the first value; the balancer appended the real one.
        attempt(browser, "alguien@prueba.co", "mala-clave",
                headers={"X-Forwarded-For": "192.0.2.66, 203.0.113.50"})
    finally:
        behind_proxy.extensions["ruta_db"].dispose()
    assert db.scalars(select(LoginFailure.address)).all() == ["203.0.113.50"]
    db.execute(delete(LoginFailure))
    db.commit()


# --- no open redirect -------------------------------------------------------------------------

EVIL_NEXT = [
    "//evil.example",
    "https://evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "\\\\evil",
    "///evil.example",
    "/\t/evil.example",
    "http:/evil.example",
    "evil.example",
]


@pytest.mark.parametrize("target", EVIL_NEXT)
def test_login_ignores_next_leaving_the_site(target: str, app: Flask, db: Session,
                                             make: Factory, web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    page = web.get("/ingresar", query_string={"next": target})
    assert 'name="next"' not in page.get_data(as_text=True)
    response = web.post("/ingresar", {"email": user.email, "password": PASSWORD,
                                      "next": target})
    assert (response.status_code, response.headers["Location"]) == (302, "/revision/")
    # Already signed in, the sign-in page sends home too.
    again = web.get("/ingresar", query_string={"next": target})
    assert (again.status_code, again.headers["Location"]) == (302, "/revision/")


def test_login_honours_next_on_the_site(app: Flask, db: Session, make: Factory,
                                        web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    ruta = make.ruta(make.school(user.secretaria))
    db.commit()
    target = f"/rutas/{ruta.id}"
    page = web.get("/ingresar", query_string={"next": target})
    assert f'name="next" value="{target}"' in page.get_data(as_text=True)
    response = web.post("/ingresar", {"email": user.email, "password": PASSWORD,
                                      "next": target})
    assert (response.status_code, response.headers["Location"]) == (302, target)
    assert web.get(target).status_code == 200


def test_login_redirect_back_from_protected_page(app: Flask, db: Session, make: Factory,
                                                 web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    bounced = web.get("/revision/?estado=en_revision")
    assert bounced.headers["Location"] == "/ingresar?next=/revision/?estado%3Den_revision"
    response = web.post("/ingresar", {"email": user.email, "password": PASSWORD,
                                      "next": "/revision/?estado=en_revision"})
    assert response.headers["Location"] == "/revision/?estado=en_revision"


def test_anonymous_form_post_returns_to_referring_page_only_on_this_site(
        app: Flask, db: Session) -> None:
    visitor = WebClient(app.test_client())
    visitor.get("/ingresar")
    same_site = visitor.post("/rutas/1/acciones/aprobar",
                             headers={"Referer": "http://localhost/rutas/1"})
    other_site = visitor.post("/rutas/1/acciones/aprobar",
                              headers={"Referer": "http://evil.example/rutas/1"})
    no_referrer = visitor.post("/rutas/1/acciones/aprobar")
    assert [same_site.headers["Location"], other_site.headers["Location"],
            no_referrer.headers["Location"]] == ["/ingresar?next=/rutas/1", "/ingresar",
                                                 "/ingresar"]


# --- headers and error pages ------------------------------------------------------------------


def assert_security_headers(response: Any) -> None:
    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_security_headers_on_pages_and_error_pages(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    statuses = []
    for response in (web.get("/ingresar"), web.get("/no-existe"),
                     web.post("/ingresar", {}, csrf=False), web.get("/salir")):
        assert_security_headers(response)
        statuses.append(response.status_code)
    web.login(user.email)
    for response in (web.get("/revision/"), web.get("/escuela/"), web.get("/rutas/999")):
        assert_security_headers(response)
        statuses.append(response.status_code)
    assert statuses == [200, 404, 400, 405, 200, 403, 404]


@pytest.fixture
def failing_app(database_url: str) -> Iterator[Flask]:
    """An app with one test-only route that fails the way a bug would."""
    application = create_app(app_config(database_url, TESTING=False))

    @application.get("/prueba/falla")
    @public
    def fail() -> str:
        raise RuntimeError("detalle interno: SELECT secreto FROM claves")

    yield application
    application.extensions["ruta_db"].dispose()


def test_unexpected_error_shows_generic_spanish_page(
        failing_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="ruta.errors"):
        response = failing_app.test_client().get("/prueba/falla")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert GENERIC_500 in page and "El error quedó registrado." in page
    for leak in ("Traceback", "RuntimeError", "secreto", "detalle interno", 'File "'):
        assert leak not in page
    assert_security_headers(response)
    # The operators get the details in the log instead.
    assert [record.getMessage() for record in caplog.records] == [
        "Unhandled error on GET /prueba/falla"]
    assert caplog.records[0].exc_info is not None


def test_database_failure_answers_503_and_keeps_what_was_typed(tmp_path: Any) -> None:
    # A database that cannot be opened: every query fails, as when the server is down.
    broken = create_app(app_config(f"sqlite:///{tmp_path / 'no-existe' / 'ruta.db'}",
                                   TESTING=False, WTF_CSRF_ENABLED=False))
    try:
        browser = broken.test_client()
        with browser.session_transaction() as session:
            session["_user_id"] = "un-token-cualquiera"
        response = browser.get("/revision/")
        posted = broken.test_client().post("/ingresar", data={
            "email": "rectora@sansimon.edu.co", "password": "no-se-muestra-igual",
            "csrf_token": "el-de-la-pagina"})
        health = broken.test_client().get("/salud")  # a balancer's probe carries no cookie
    finally:
        broken.extensions["ruta_db"].dispose()
    page = response.get_data(as_text=True)
    assert (response.status_code, response.headers["Retry-After"]) == (503, "30")
    assert ("La base de datos no respondió" in page, GENERIC_500 in page, "Traceback" in page,
            "sqlite" in page.lower()) == (True, False, False, False)
    form = posted.get_data(as_text=True)
    assert posted.status_code == 503
    assert '<form method="post" action="/ingresar"' in form
    assert '<input type="hidden" name="email" value="rectora@sansimon.edu.co">' in form
    assert '<input type="hidden" name="csrf_token" value="el-de-la-pagina">' in form
    assert "no-se-muestra-igual" not in form  # a password is typed again, never carried
    assert posted.headers["Cache-Control"] == "no-store"
    assert (health.status_code, health.headers["Retry-After"]) == (503, "30")
    assert health.get_json()["estado"] == "no disponible"
    assert health.get_json()["base_de_datos"] == {"estado": "sin conexión"}


INLINE_CODE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "style element": re.compile(r"<style\b", re.IGNORECASE),
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=\s*[\"']", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def test_templates_have_no_inline_script_or_style() -> None:
    # The CSP blocks these in the browser; finding them here is a page that silently breaks.
    templates = sorted((PROJECT_ROOT / "templates").rglob("*.html"))
    assert len(templates) >= 5
    found = [f"{path.relative_to(PROJECT_ROOT)}: {kind}"
             for path in templates for kind, pattern in INLINE_CODE.items()
             if pattern.search(path.read_text(encoding="utf-8"))]
    assert found == []
