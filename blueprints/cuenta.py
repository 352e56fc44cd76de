"""Account pages: ask for a password reset, use a reset link, accept an invitation (public);
«Cuenta»: the signed-in person's open sessions, each closable."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from blueprints.access import ALL_ROLES, public, roles_required
from ruta.db import db_session
from ruta.security import client_address, passwords, session_policy, user_agent
from workflow.cuentas import accounts, invitations, security_log
from workflow.cuentas.models import TokenPurpose
from workflow.cuentas.tokens import check, redeem
from workflow.errors import InvalidInput

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


def _use_link(token: str, purpose: TokenPurpose) -> Response | str | tuple[str, int]:
    database = db_session()
    title, button, done = PAGES[purpose]
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
    flash(done, "success")
    return redirect(url_for("auth.login"))


@bp.route("/restablecer/<token>", methods=["GET", "POST"])
@public
def reset(token: str) -> Response | str | tuple[str, int]:
    return _use_link(token, TokenPurpose.PASSWORD_RESET)


@bp.route("/invitacion/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str) -> Response | str | tuple[str, int]:
    return _use_link(token, TokenPurpose.INVITATION)


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
