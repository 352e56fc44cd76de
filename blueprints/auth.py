"""Sign in, sign out, change password, and the landing page that sends each role home."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response

import ruta.two_step as two_step
from blueprints.access import ALL_ROLES, public, roles_required
from blueprints.landing import home_url
from ruta.db import db_session
from ruta.security import (
    client_address,
    mfa_required_roles,
    passwords,
    safe_next,
    secret_box,
    throttle_policy,
    user_agent,
)
from workflow.cuentas import accounts, invitations, mfa, security_log
from workflow.errors import InvalidInput
from workflow.models import User

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


ENROL_NOTICE = ("Para su rol la verificación en dos pasos es obligatoria: actívela para "
                "continuar.")
# Where a person who must enrol in two-step verification may still go.
ALLOWED_BEFORE_ENROLMENT = {"cuenta.two_step", "cuenta.two_step_enrol", "auth.logout",
                            "operacion.health", "operacion.metrics", "static"}


def enrolment_missing(user: User) -> bool:
    return (mfa.is_required(user, mfa_required_roles())
            and not mfa.is_enrolled(db_session(), user))


@bp.before_app_request
def _require_two_step() -> Response | None:
    if (current_user.is_authenticated and request.endpoint not in ALLOWED_BEFORE_ENROLMENT
            and not current_user.must_change_password
            and enrolment_missing(current_user._get_current_object())):
        flash(ENROL_NOTICE, "info")
        return redirect(url_for("cuenta.two_step_enrol"))
    return None


def _after_sign_in(user: User, next_url: str | None) -> Response:
    """Straight to where the person is going: each redirect is a round trip on a slow link."""
    flash(f"Bienvenido(a), {user.name}.", "success")
    if user.must_change_password:
        flash(MUST_CHANGE_NOTICE, "info")
        return redirect(url_for("auth.change_password"))
    if enrolment_missing(user):
        flash(ENROL_NOTICE, "info")
        return redirect(url_for("cuenta.two_step_enrol"))
    return redirect(next_url or home_url(user))


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
    if mfa.is_enrolled(database, user):
        database.commit()
        two_step.start_pending(user, next_url=next_url)  # no session row until the code
        return render_template("auth/verify.html", error=None)
    two_step.finish_sign_in(database, user)
    return _after_sign_in(user, next_url)


@bp.route("/ingresar/verificacion", methods=["GET", "POST"])
@public
def verify() -> Response | str | tuple[str, int]:
    """The second step of signing in: a code of the authenticator app or a recovery code."""
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    database = db_session()
    pending = two_step.pending_user(database)
    if pending is None:
        flash(two_step.EXPIRED_MESSAGE, "info")
        return redirect(url_for("auth.login"))
    if request.method == "GET":
        return render_template("auth/verify.html", error=None)
    user, next_url = pending
    if not mfa.is_enrolled(database, user):
        # Reset by the administración between the two steps: the password was the whole of it.
        two_step.finish_sign_in(database, user)
        return _after_sign_in(user, next_url)
    try:
        checked = mfa.verify(database, user, request.form.get("code", ""), box=secret_box(),
                             address=client_address(), policy=throttle_policy(),
                             user_agent=user_agent())
    except (mfa.CodeRefused, accounts.LoginThrottled) as error:
        database.commit()  # the failure counts even though sign-in failed
        return render_template("auth/verify.html", error=error.message), error.status
    two_step.finish_sign_in(database, user)
    if checked.recovery:
        flash(recovery_notice(checked.codes_left), "info")
    return _after_sign_in(user, next_url)


def recovery_notice(left: int) -> str:
    notice = (f"Ingresó con un código de recuperación, que ya no sirve más. Le "
              f"{'queda' if left == 1 else 'quedan'} {left}.")
    if left <= 3:
        notice += " Genere códigos nuevos en «Verificación en dos pasos»."
    return notice


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
    two_step.finish_sign_in(database, user)
    flash("Cambió su contraseña. Las demás sesiones abiertas con su cuenta se cerraron.",
          "success")
    return redirect(home_url(user))
