"""Public account links: ask for a password reset, use a reset link, accept an invitation."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from blueprints.access import public
from ruta.db import db_session
from ruta.security import passwords
from workflow.cuentas import invitations
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
