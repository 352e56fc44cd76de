"""Signing in again in the middle of a form: what the person typed survives an ended session.

The pages come from ``ruta.resume``: a form posted after its session ended shows a sign-in form
that carries the typed values in hidden fields. This view signs the person in and, when it is
the same person whose form it was, answers with a page that posts the values again to the
original URL with a fresh token («Guardar lo que escribió»). Another account gets a clear
refusal: it never sends, or sees, someone else's values.

With two-step verification the values travel one page further: the code page carries them
too, and a person who must enrol first enrols on that same page.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

import ruta.two_step as two_step
from blueprints.access import public
from ruta.db import db_session
from ruta.resume import (
    CARRY_PREFIX,
    RESUME_FIELD,
    Interrupted,
    bind_csrf,
    read_resume,
    render_other_account,
    render_repost,
    render_sign_in_again,
)
from ruta.security import (
    client_address,
    mfa_required_roles,
    passwords,
    secret_box,
    throttle_policy,
    user_agent,
)
from workflow.cuentas import accounts, mfa
from workflow.errors import InvalidInput
from workflow.models import User

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
    if mfa.is_enrolled(database, user) or mfa.is_required(user, mfa_required_roles()):
        database.commit()
        two_step.start_pending(user)  # no session row until the code is right
        return _render_second_step(carried, user)
    return _continue(database, user, carried)


def _continue(database: Session, user: User, carried: Interrupted,
              recovery_codes: list[str] | None = None) -> tuple[str, int]:
    two_step.finish_sign_in(database, user)
    bind_csrf(user.id, force=True)
    if user.id != carried.owner:
        return render_other_account(carried)
    return render_repost(carried, recovery_codes=recovery_codes)


def _render_second_step(carried: Interrupted, user: User, *, error: str | None = None,
                        status: int = 200) -> tuple[str, int]:
    """The code page, carrying the typed values on. A person whose role requires two-step
    verification and who has not enrolled yet enrols right here (QR and code), so the form
    is not lost behind the enrolment page."""
    database = db_session()
    enrol = None
    if not mfa.is_enrolled(database, user):
        secret = mfa.begin_enrolment(database, user, box=secret_box())
        database.commit()
        enrol = {"svg": two_step.qr_svg(user, secret), "secret": two_step.grouped(secret)}
    return render_template("sesion/verificar.html", interrupted=carried,
                           carry_prefix=CARRY_PREFIX, resume_field=RESUME_FIELD,
                           enrol=enrol, error=error), status


@bp.post("/sesion/reanudar/verificacion", endpoint="resume_verify")
@public
def resume_second_step() -> Response | str | tuple[str, int]:
    carried = read_resume(request.form)
    if carried is None:
        return render_template("sesion/no_valido.html"), 400
    database = db_session()
    pending = two_step.pending_user(database)
    if pending is None:
        return render_sign_in_again(carried, error=two_step.EXPIRED_MESSAGE)
    user = pending[0]
    code = request.form.get("code", "")
    recovery_codes = None
    try:
        if mfa.is_enrolled(database, user):
            mfa.verify(database, user, code, box=secret_box(), address=client_address(),
                       policy=throttle_policy(), user_agent=user_agent())
        else:
            recovery_codes = mfa.confirm_enrolment(
                database, user, code, box=secret_box(), address=client_address(),
                policy=throttle_policy(), user_agent=user_agent())
    except (mfa.CodeRefused, accounts.LoginThrottled, InvalidInput) as error:
        database.commit()  # the failure counts even though sign-in failed
        return _render_second_step(carried, user, error=error.message, status=error.status)
    return _continue(database, user, carried, recovery_codes)
