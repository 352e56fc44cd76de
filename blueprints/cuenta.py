"""Public account links: ask for a password reset, use a reset link, accept an invitation.

A link's token never stays in an address: ``/invitacion/<token>`` (and ``/restablecer/...``)
only puts the token in the signed session cookie and answers 303 to ``/invitacion``, which
shows and takes the form. So the token reaches an access log, the browser history or a
Referer header once, on a request that renders nothing.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from blueprints.access import public
from ruta.db import db_session
from ruta.security import passwords
from workflow.cuentas import invitations
from workflow.cuentas.models import TokenPurpose
from workflow.cuentas.tokens import INVALID_LINK, check, redeem
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
    invitations.send_password_reset(database, request.form.get("email", ""))
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
