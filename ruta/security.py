"""Sign-in plumbing and the security baseline: sessions, CSRF, headers, client address."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from workflow.accounts import Passwords, ThrottlePolicy, load_session_user
from workflow.models import User

login_manager = LoginManager()
csrf = CSRFProtect()

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


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Ingrese para continuar."
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app,  # type: ignore[method-assign]
                                x_for=app.config["TRUSTED_PROXIES"],
                                x_proto=app.config["TRUSTED_PROXIES"])
    app.extensions["ruta_passwords"] = Passwords(
        time_cost=app.config["ARGON2_TIME_COST"], memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"])
    app.after_request(_security_headers)


@login_manager.user_loader
def _load_user(token: str) -> User | None:
    from ruta.db import db_session

    return load_session_user(db_session(), token)


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
        max_failures_per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        window=timedelta(minutes=config["LOGIN_WINDOW_MINUTES"]),
    )


def client_address() -> str:
    # With TRUSTED_PROXIES set, ProxyFix has already put the client's address here.
    return request.remote_addr or "desconocida"
