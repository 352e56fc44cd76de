"""Sign in, sign out, change password, and the landing page that sends each role home."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from blueprints.access import ALL_ROLES, public, roles_required
from blueprints.landing import home_url
from ruta.db import db_session
from ruta.security import client_address, passwords, safe_next, throttle_policy, user_agent
from workflow.cuentas import accounts, invitations, security_log
from workflow.errors import InvalidInput

bp = Blueprint("auth", __name__)

MUST_CHANGE_NOTICE = "Su contraseña es temporal: elija una propia para continuar."

# Where a person with a temporary password may still go.
ALLOWED_WITH_TEMPORARY_PASSWORD = {"auth.change_password", "auth.logout", "operacion.health",
                                   "operacion.metrics", "static"}


@bp.before_app_request
def _require_own_password() -> Response | None:
    if (current_user.is_authenticated and current_user.must_change_password
            and request.endpoint not in ALLOWED_WITH_TEMPORARY_PASSWORD):
        flash(MUST_CHANGE_NOTICE, "info")
        return redirect(url_for("auth.change_password"))
    return None


@bp.get("/")
@public
def index() -> Response:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(home_url(current_user))


@bp.route("/ingresar", methods=["GET", "POST"])
@public
def login() -> Response | str | tuple[str, int]:
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or home_url(current_user))
    if request.method == "GET":
        return render_template("auth/login.html", next_url=next_url, email="")

    email = request.form.get("email", "")
    password = request.form.get("password", "")
    database = db_session()
    try:
        user = accounts.authenticate(database, email, password, address=client_address(),
                                     passwords=passwords(), policy=throttle_policy(),
                                     user_agent=user_agent())
    except (accounts.LoginFailed, accounts.LoginThrottled) as error:
        database.commit()  # the failure counts even though sign-in failed
        return render_template("auth/login.html", next_url=next_url, email=email[:254],
                               error=error.message), error.status
    session.clear()  # a fresh session on sign-in: no fixation
    accounts.start_session(database, user, address=client_address(), user_agent=user_agent())
    database.commit()
    login_user(user)
    flash(f"Bienvenido(a), {user.name}.", "success")
    # Straight to where the person is going: each redirect is a round trip on a slow link.
    if user.must_change_password:
        flash(MUST_CHANGE_NOTICE, "info")
        return redirect(url_for("auth.change_password"))
    return redirect(next_url or home_url(user))


@bp.post("/salir")
@roles_required(*ALL_ROLES)
def logout() -> Response:
    database = db_session()
    accounts.end_session(database, current_user.session_token)
    security_log.record(database, "logout", actor=current_user._get_current_object(),
                        address=client_address(), user_agent=user_agent())
    database.commit()
    logout_user()
    session.clear()
    flash("Cerró su sesión.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/cuenta/contrasena", methods=["GET", "POST"])
@roles_required(*ALL_ROLES)
def change_password() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("auth/password.html", errors={})
    database = db_session()
    user = current_user._get_current_object()
    try:
        accounts.change_password(
            database, user, current=request.form.get("current", ""),
            new=request.form.get("new", ""), confirm=request.form.get("confirm", ""),
            passwords=passwords(), address=client_address(), policy=throttle_policy())
    except InvalidInput as error:
        # A wrong current password counts, as a failed sign-in does; the log says which
        # fields were refused (never their values).
        security_log.record(database, "password_change_failed", actor=user,
                            address=client_address(), user_agent=user_agent(),
                            outcome="failed", detail={"fields": sorted(error.errors)})
        database.commit()
        return render_template("auth/password.html", errors=error.errors), 422
    except accounts.LoginThrottled as error:
        database.rollback()
        security_log.record(database, "password_change_failed", actor=user,
                            address=client_address(), user_agent=user_agent(),
                            outcome="throttled")
        database.commit()
        return render_template("auth/password.html",
                               errors={"current": [error.message]}), 429
    invitations.notify_password_changed(database, user, how="cambio")
    security_log.record(database, "password_changed", actor=user, address=client_address(),
                        user_agent=user_agent())
    # Every other session of this user has ended; this browser gets a fresh one.
    session.clear()
    accounts.start_session(database, user, address=client_address(), user_agent=user_agent())
    database.commit()
    login_user(user)
    flash("Cambió su contraseña. Las demás sesiones abiertas con su cuenta se cerraron.",
          "success")
    return redirect(home_url(user))
