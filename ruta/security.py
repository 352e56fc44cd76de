"""Sign-in plumbing and the security baseline: sessions, CSRF, headers, client address."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, flash, g, redirect, request, url_for
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from workflow.cuentas.accounts import (
    Passwords,
    SessionPolicy,
    ThrottlePolicy,
    load_session_user,
    touch_session,
)
from workflow.cuentas.mfa import SecretBox, parse_roles
from workflow.errors import DomainError
from workflow.models import User
from workflow.roles import Role

# Ids are INTEGER columns: nothing bigger names a row, and SQLite cannot even compare a number
# beyond 64 bits (it raises instead of finding nothing).
MAX_DATABASE_INT = 2**31 - 1

login_manager = LoginManager()
csrf = CSRFProtect()

# What a file the service hands out (a chart, an evidence download) may do: nothing. It
# keeps the page policy's frame-ancestors and base-uri: a download replaces the header.
FILE_CONTENT_SECURITY_POLICY = ("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'none'")
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
])


class DatabaseIntConverter(IntegerConverter):
    """``<int:…>`` in URLs, bounded to what an id can be: a bigger number is a plain 404."""

    def __init__(self, url_map: Any, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = None, signed: bool = False) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, signed=signed,
                         max=MAX_DATABASE_INT if max is None else max)


def init_app(app: Flask) -> None:
    # Before any blueprint is registered: rules pick their converters when they are added.
    app.url_map.converters["int"] = DatabaseIntConverter
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Ingrese para continuar."
    login_manager.login_message_category = "info"
    login_manager.unauthorized_handler(send_to_login)
    csrf.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app,  # type: ignore[method-assign]
                                x_for=app.config["TRUSTED_PROXIES"],
                                x_proto=app.config["TRUSTED_PROXIES"])
    app.extensions["ruta_passwords"] = Passwords(
        time_cost=app.config["ARGON2_TIME_COST"], memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"])
    app.after_request(_security_headers)
    app.before_request(read_head_as_get)
    app.before_request(refuse_nul_characters)
    # Registered after the database's teardown, so it runs before it (Flask runs them in
    # reverse order).
    app.teardown_appcontext(_write_pending_events)
    _attach_security_log_file(app)


def read_head_as_get() -> None:
    """A HEAD asks for what a GET would answer, without the body (RFC 9110 §9.3.2). The views
    that take GET and POST show their page when ``request.method == "GET"`` and act otherwise,
    so a HEAD must read as a GET there: it ran the POST branch (and CSRF checks only POST),
    so a link checker's HEAD on «Quitar del equipo» removed the member. The server still
    sends no body: it reads the method from the request line, not from here."""
    if request.method == "HEAD":
        request.method = "GET"


def _attach_security_log_file(app: Flask) -> None:
    """``SECURITY_LOG_FILE``: the ``ruta.security`` stream (one JSON object per line) is also
    appended to that file, for a SIEM to collect. Attached once per file per process."""
    import logging

    path = app.config.get("SECURITY_LOG_FILE")
    if not path:
        return
    stream = logging.getLogger("ruta.security")
    stream.setLevel(logging.INFO)
    target = str(Path(path).resolve())
    if any(getattr(handler, "baseFilename", None) == target for handler in stream.handlers):
        return
    handler = logging.FileHandler(target, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(message)s"))
    stream.addHandler(handler)


NUL_MESSAGE = ("Lo enviado contiene un carácter nulo, que no es texto: no se guardó nada. Si "
               "copió el texto de otro programa, escríbalo de nuevo o péguelo como texto sin "
               "formato.")


def refuse_nul_characters() -> None:
    """Refuse a request whose address, query or form carries a NUL character.

    PostgreSQL cannot store one (psycopg refuses it), so it used to surface as a 500, even
    before sign-in. No person types a NUL into a form; a clear 400 before any view runs is the
    answer. A body is read here only if it is ``x-www-form-urlencoded`` or already parsed: an
    evidence upload's multipart body is parsed by its view after it raises the body limit, and
    the database error handler answers 400 for what gets that far."""
    values = [request.path, *(item for _, items in request.args.lists() for item in items)]
    # ``form`` in the request's dict: the CSRF check already parsed the body (any type).
    if request.method == "POST" and (
            request.mimetype == "application/x-www-form-urlencoded" or "form" in vars(request)):
        values.extend(item for _, items in request.form.lists() for item in items)
    if any("\x00" in value for value in values):
        raise DomainError(NUL_MESSAGE)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site; None for anything that could leave it."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read a backslash as a slash and drop tabs and newlines, so a backslash or a
    # control character anywhere could turn the path into another host.
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _way_back() -> str | None:
    """Where to return after signing in: this page, or for a form the page it was sent from
    (an action's URL only takes POST, so it cannot be opened after signing in)."""
    if request.method in {"GET", "HEAD"}:
        return safe_next(request.full_path.removesuffix("?"))
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc != request.host:
        return None
    return safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))


def send_to_login() -> Response:
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(url_for("auth.login", next=_way_back()))


@login_manager.user_loader
def _load_user(token: str) -> User | None:
    """The session's user, if the session is still live on the server (idle and absolute
    limits). ``last_seen_at`` (at most once a minute) and the end of an expired session are
    written in their own short transaction: most requests (every GET) never commit theirs,
    so a write there would be rolled back at the end of the request."""
    from ruta.db import db_session, get_db

    user, action = load_session_user(db_session(), token, policy=session_policy())
    if action:
        own = get_db().session_factory()
        try:
            touch_session(own, token, action)
            own.commit()
        finally:
            own.close()
    return user


def session_policy() -> SessionPolicy:
    from datetime import timedelta

    config = current_app.config
    return SessionPolicy(idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
                         lifetime=timedelta(hours=config["SESSION_MAX_HOURS"]))


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if request.endpoint != "static":
        # Pages show personal data: never keep them in shared caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def passwords() -> Passwords:
    return current_app.extensions["ruta_passwords"]  # type: ignore[no-any-return]


def throttle_policy() -> ThrottlePolicy:
    from datetime import timedelta

    config = current_app.config
    return ThrottlePolicy(
        max_failures_per_account=config["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        max_failures_per_account_and_address=config[
            "LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS"],
        max_failures_per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        window=timedelta(minutes=config["LOGIN_WINDOW_MINUTES"]),
    )


def client_address() -> str:
    # With TRUSTED_PROXIES set, ProxyFix has already put the client's address here.
    return request.remote_addr or "desconocida"


def secret_box() -> SecretBox:
    """Encrypts the TOTP secrets: SECRET_KEY seals, it and SECRET_KEY_FALLBACKS open."""
    box = current_app.extensions.get("ruta_mfa_box")
    if box is None:
        keys = [str(current_app.secret_key),
                *current_app.config.get("SECRET_KEY_FALLBACKS", ())]
        box = current_app.extensions["ruta_mfa_box"] = SecretBox(keys)
    return box  # type: ignore[no-any-return]


def mfa_required_roles() -> frozenset[Role]:
    """The roles that must use two-step verification (``MFA_REQUIRED_ROLES``)."""
    return parse_roles(current_app.config.get("MFA_REQUIRED_ROLES") or ())


def user_agent() -> str:
    return request.headers.get("User-Agent", "")[:300]


def log_event(kind: str, *, actor: User | None, outcome: str = "ok",
              detail: dict[str, Any] | None = None) -> None:
    """Record a security event of this request in its own transaction, at the end of the
    request: for what happens on a GET (a download, a refusal), whose request never commits,
    or whose own work is rolled back. Written after the request's session is closed, so a
    GET that wrote something uncommitted (SQLite locks the whole file) cannot block it."""
    pending = g.setdefault("security_events", [])
    pending.append({"kind": kind, "user_id": actor.id if actor is not None else None,
                    "address": client_address(), "user_agent": user_agent(),
                    "outcome": outcome, "detail": detail})


def _write_pending_events(_error: BaseException | None) -> None:
    import logging

    from ruta.db import get_db
    from workflow.cuentas import security_log

    pending = g.pop("security_events", None)
    if not pending:
        return
    database = get_db()
    database.session.remove()  # end the request's transaction first (see log_event)
    own = database.session_factory()
    try:
        for item in pending:
            user_id = item.pop("user_id")
            actor = own.get(User, user_id) if user_id is not None else None
            security_log.record(own, actor=actor, **item)
        own.commit()
    except Exception:  # never in the way of the answer, already sent
        logging.getLogger(__name__).exception("Could not write the security events %s",
                                              pending)
    finally:
        own.close()
