"""Signing in again in the middle of a form: what the person typed survives an ended session.

The pages come from ``ruta.resume``: a form posted after its session ended shows a sign-in form
that carries the typed values in hidden fields. This view signs the person in and, when it is
the same person whose form it was, answers with a page that posts the values again to the
original URL with a fresh token («Guardar lo que escribió»). Another account gets a clear
refusal: it never sends, or sees, someone else's values.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request, session
from flask_login import login_user
from werkzeug.wrappers import Response

from blueprints.access import public
from ruta.db import db_session
from ruta.resume import (
    bind_csrf,
    read_resume,
    render_other_account,
    render_repost,
    render_sign_in_again,
)
from ruta.security import client_address, passwords, throttle_policy, user_agent
from workflow.cuentas import accounts

bp = Blueprint("sesion", __name__)


@bp.post("/sesion/reanudar", endpoint="resume")
@public
def resume_form() -> Response | str | tuple[str, int]:
    carried = read_resume(request.form)
    if carried is None:
        return render_template("sesion/no_valido.html"), 400
    email = request.form.get("email", "")
    database = db_session()
    try:
        user = accounts.authenticate(database, email, request.form.get("password", ""),
                                     address=client_address(), passwords=passwords(),
                                     policy=throttle_policy(), user_agent=user_agent())
    except (accounts.LoginFailed, accounts.LoginThrottled) as error:
        database.commit()  # the failure counts even though sign-in failed
        return render_sign_in_again(carried, email=email[:254], error=error.message,
                                           status=error.status)
    session.clear()  # a fresh session on sign-in: no fixation
    accounts.start_session(database, user, address=client_address(), user_agent=user_agent())
    database.commit()
    login_user(user)
    bind_csrf(user.id, force=True)
    if user.id != carried.owner:
        return render_other_account(carried)
    return render_repost(carried)
