"""Account pages: the public links (ask for a password reset, use a reset link, accept an
invitation); «Cuenta», the signed-in person's open sessions, each closable; and «Verificación
en dos pasos» (enrol, recovery codes, disable).

A link's token never stays in an address: ``/invitacion/<token>`` (and ``/restablecer/...``)
only puts the token in the signed session cookie and answers 303 to ``/invitacion``, which
shows and takes the form. So the token reaches an access log, the browser history or a
Referer header once, on a request that renders nothing.
"""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

import ruta.two_step as two_step
from blueprints.access import ALL_ROLES, public, roles_required
from blueprints.landing import home_url
from ruta.db import db_session
from ruta.security import (
    client_address,
    mfa_required_roles,
    passwords,
    secret_box,
    session_policy,
    throttle_policy,
    user_agent,
)
from workflow.cuentas import accounts, invitations, mfa, security_log
from workflow.cuentas.models import TokenPurpose
from workflow.cuentas.tokens import INVALID_LINK, check, redeem
from workflow.errors import Forbidden, InvalidInput
from workflow.models import User

bp = Blueprint("cuenta", __name__)

SENT_MESSAGE = ("Si hay una cuenta activa con ese correo, le enviamos un enlace para elegir una "
                "contraseña nueva. El enlace vence en 2 horas. Revise también la carpeta de "
                "correo no deseado.")


@bp.route("/recuperar-contrasena", methods=["GET", "POST"])
@public
def request_reset() -> Response | str:
    if request.method == "GET":
        return render_template("cuenta/request_reset.html")
    database = db_session()
    config = current_app.config
    invitations.request_password_reset(
        database, request.form.get("email", ""), address=client_address(),
        user_agent=user_agent(), limits=invitations.ResetLimits(
            per_address=config["RESET_MAX_PER_ADDRESS_PER_HOUR"],
            per_account=config["RESET_MAX_PER_ACCOUNT_PER_HOUR"], window=timedelta(hours=1)))
    database.commit()
    # The same answer whether or not the account exists: nobody learns who has one.
    flash(SENT_MESSAGE, "info")
    return redirect(url_for("auth.login"))


PAGES = {
    TokenPurpose.PASSWORD_RESET: ("Elegir una contraseña nueva", "Guardar la contraseña",
                                  "Listo: ya puede ingresar con su contraseña nueva."),
    TokenPurpose.INVITATION: ("Activar su cuenta", "Activar la cuenta",
                              "Su cuenta quedó activa: ingrese con su correo y su contraseña."),
}


# The session key holding the token of each kind of link, between landing and the form.
SESSION_KEYS = {TokenPurpose.PASSWORD_RESET: "reset_token",
                TokenPurpose.INVITATION: "invitation_token"}
FORM_ENDPOINTS = {TokenPurpose.PASSWORD_RESET: "cuenta.reset_form",
                  TokenPurpose.INVITATION: "cuenta.invitation_form"}


def _land(token: str, purpose: TokenPurpose) -> Response:
    """Move the token from the address to the session; the form lives at a plain address."""
    session[SESSION_KEYS[purpose]] = token[:200]
    # The app's Referrer-Policy (same-origin) already keeps the address from other sites.
    return redirect(url_for(FORM_ENDPOINTS[purpose]), 303)


def _use_link(purpose: TokenPurpose) -> Response | str | tuple[str, int]:
    database = db_session()
    title, button, done = PAGES[purpose]
    token = session.get(SESSION_KEYS[purpose])
    if not isinstance(token, str) or not token:
        return render_template("cuenta/link_invalid.html", message=INVALID_LINK), 410
    try:
        user = check(database, token, purpose)
    except InvalidInput as error:
        return render_template("cuenta/link_invalid.html", message=error.message), 410
    if request.method == "GET":
        return render_template("cuenta/set_password.html", title=title, button=button,
                               user=user, errors={})
    try:
        redeem(database, token, purpose, password=request.form.get("new", ""),
               confirm=request.form.get("confirm", ""), passwords=passwords())
        if purpose is TokenPurpose.PASSWORD_RESET:
            invitations.notify_password_changed(database, user, how="restablecimiento")
        security_log.record(
            database, "password_reset" if purpose is TokenPurpose.PASSWORD_RESET
            else "invitation_accepted", actor=user, address=client_address(),
            user_agent=user_agent())
    except InvalidInput as error:
        database.rollback()
        return render_template("cuenta/set_password.html", title=title, button=button,
                               user=user, errors=error.errors), 422
    database.commit()
    session.pop(SESSION_KEYS[purpose], None)
    flash(done, "success")
    return redirect(url_for("auth.login"))


@bp.route("/restablecer/<token>")
@public
def reset(token: str) -> Response:
    return _land(token, TokenPurpose.PASSWORD_RESET)


@bp.route("/restablecer", methods=["GET", "POST"])
@public
def reset_form() -> Response | str | tuple[str, int]:
    return _use_link(TokenPurpose.PASSWORD_RESET)


@bp.route("/invitacion/<token>")
@public
def accept_invitation(token: str) -> Response:
    return _land(token, TokenPurpose.INVITATION)


@bp.route("/invitacion", methods=["GET", "POST"])
@public
def invitation_form() -> Response | str | tuple[str, int]:
    return _use_link(TokenPurpose.INVITATION)


# --- two-step verification (signed in) ----------------------------------------------------


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


@bp.get("/cuenta/verificacion", endpoint="two_step")
@roles_required(*ALL_ROLES)
def two_step_page() -> str:
    database = db_session()
    user = _me()
    return render_template(
        "cuenta/two_step.html", enrolled=mfa.is_enrolled(database, user),
        required=mfa.is_required(user, mfa_required_roles()),
        codes_left=mfa.recovery_codes_left(database, user), errors={})


@bp.route("/cuenta/verificacion/activar", methods=["GET", "POST"], endpoint="two_step_enrol")
@roles_required(*ALL_ROLES)
def two_step_enrol() -> Response | str | tuple[str, int]:
    """Enrolment: the QR code (and the secret as text, for typing it in by hand), then the
    first code from the app; the answer shows the recovery codes, once."""
    database = db_session()
    user = _me()
    if mfa.is_enrolled(database, user):
        return redirect(url_for("cuenta.two_step"))
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        try:
            codes = mfa.confirm_enrolment(database, user, request.form.get("code", ""),
                                          box=secret_box(), address=client_address(),
                                          policy=throttle_policy(), user_agent=user_agent())
        except (mfa.CodeRefused, accounts.LoginThrottled, InvalidInput) as error:
            database.commit()  # a wrong code counts, as a failed sign-in does
            errors, status = {"code": [error.message]}, error.status
        else:
            database.commit()
            flash("La verificación en dos pasos quedó activa: desde ahora, al ingresar, se le "
                  "pedirá un código de su aplicación.", "success")
            return render_template("cuenta/recovery_codes.html", codes=codes,
                                   next_url=home_url(user))
    secret = mfa.begin_enrolment(database, user, box=secret_box())
    database.commit()
    return render_template(
        "cuenta/two_step_enrol.html", qr=two_step.qr_svg(user, secret),
        secret=two_step.grouped(secret), errors=errors,
        required=mfa.is_required(user, mfa_required_roles())), status


def _with_code(action: str) -> Response | str | tuple[str, int]:
    database = db_session()
    user = _me()
    code = request.form.get("code", "")
    common = {"box": secret_box(), "address": client_address(), "policy": throttle_policy()}
    try:
        if action == "codes":
            codes = mfa.regenerate_recovery_codes(database, user, code, **common)
        else:
            mfa.disable(database, user, code, required_roles=mfa_required_roles(), **common)
    except (mfa.CodeRefused, accounts.LoginThrottled, InvalidInput, Forbidden) as error:
        database.commit()  # a wrong code counts, as a failed sign-in does
        return render_template(
            "cuenta/two_step.html", enrolled=mfa.is_enrolled(database, user),
            required=mfa.is_required(user, mfa_required_roles()),
            codes_left=mfa.recovery_codes_left(database, user),
            errors={action: [error.message]}), error.status
    database.commit()
    if action == "codes":
        return render_template("cuenta/recovery_codes.html", codes=codes,
                               next_url=url_for("cuenta.two_step"))
    flash("Desactivó la verificación en dos pasos: al ingresar solo se le pedirá la "
          "contraseña.", "success")
    return redirect(url_for("cuenta.two_step"))


@bp.post("/cuenta/verificacion/codigos", endpoint="two_step_codes")
@roles_required(*ALL_ROLES)
def two_step_codes() -> Response | str | tuple[str, int]:
    return _with_code("codes")


@bp.post("/cuenta/verificacion/desactivar", endpoint="two_step_disable")
@roles_required(*ALL_ROLES)
def two_step_disable() -> Response | str | tuple[str, int]:
    return _with_code("disable")


# --- «Cuenta»: open sessions ------------------------------------------------------------------


@bp.get("/cuenta", endpoint="account")
@roles_required(*ALL_ROLES)
def account() -> str:
    database = db_session()
    token = current_user.session_token
    rows = accounts.active_sessions(database, current_user, policy=session_policy())
    sessions = [{"handle": accounts.session_handle(row), "current": accounts.is_current(row, token),
                 "device": accounts.describe_device(row.user_agent),
                 "address": row.address or "desconocida", "last_seen_at": row.last_seen_at,
                 "created_at": row.created_at} for row in rows]
    sessions.sort(key=lambda item: not item["current"])  # this browser first
    return render_template("cuenta/account.html", sessions=sessions)


@bp.post("/cuenta/sesiones/cerrar", endpoint="close_sessions")
@roles_required(*ALL_ROLES)
def close_sessions() -> Response:
    """«Cerrar las demás sesiones», or one of them (``sesion``: its handle on the page)."""
    database = db_session()
    user = current_user._get_current_object()
    handle = request.form.get("sesion") or None
    ended = accounts.end_other_sessions(database, user, current_token=user.session_token,
                                        handle=handle[:40] if handle else None)
    if ended:
        security_log.record(database, "session_closed", actor=user, address=client_address(),
                            user_agent=user_agent(), detail={"sessions": ended})
    database.commit()
    if ended:
        flash("Se cerró la otra sesión." if ended == 1 else
              f"Se cerraron {ended} sesiones: solo queda abierta esta.", "success")
    else:
        flash("No había otra sesión abierta con esos datos: no se cerró nada.", "info")
    return redirect(url_for("cuenta.account"))
