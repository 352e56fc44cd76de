"""A form sent after its session ended keeps what the person typed.

When a POST arrives without a live session (the session row ended: idle, signed out
elsewhere, password changed) or with a CSRF token of another session (signed out and in again
in another tab), the view never runs. Instead of a bare error the person sees their values
carried along in hidden fields: a sign-in form when nobody is signed in, or, once the same
person is signed in, a page that posts the values again to the original URL with a fresh
token. Nothing of what was typed is stored or logged on the server beyond the request.

Whose form it was comes from the CSRF token itself: for a signed-in user the session's raw
token starts with the user's id (``bind_csrf``), and the posted token is signed by the server,
so it names its owner reliably. A post whose token names nobody (a visitor's form, a forged
cross-site post) gets the plain error: there is no typed work of a signed-in person to keep,
and offering to re-send values from an unknown source would help a forgery.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, render_template, request, session
from flask_login import current_user
from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer
from werkzeug.datastructures import MultiDict

from ruta.security import safe_next

#: Hidden fields that carry a value are named with this prefix and the original name.
CARRY_PREFIX = "valor."
#: The hidden field with the signed original URL and owner.
RESUME_FIELD = "reanudar"
CSRF_FIELD = "csrf_token"
# Forms whose values are credentials or that restart a session themselves: never carried.
NOT_CARRIED_BLUEPRINTS = ("auth", "cuenta", "sesion")
OWNER_PATTERN = re.compile(r"^(\d+)\.")
RESUME_SALT = "ruta-reanudar"
CSRF_SALT = "wtf-csrf-token"  # Flask-WTF's own salt: its signed tokens are read back here


@dataclass(frozen=True)
class Interrupted:
    """A POST that did not run: where it went, whose form it was, and what it carried."""

    to: str
    owner: int
    fields: list[tuple[str, str]]
    files: list[str]

    def signed(self) -> str:
        return _resume_serializer().dumps({"to": self.to, "owner": self.owner})


def _secret() -> str:
    return str(current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key)


def _resume_serializer() -> URLSafeSerializer:
    # While keys rotate, a form carried under the previous key still resumes (itsdangerous
    # signs with the last key and accepts any of them).
    keys = [*current_app.config.get("SECRET_KEY_FALLBACKS", ()), _secret()]
    return URLSafeSerializer(keys, salt=RESUME_SALT)


def bind_csrf(user_id: int, *, force: bool = False) -> None:
    """Make the session's raw CSRF token name ``user_id`` (a fresh one when it named nobody or
    someone else, or when ``force``: the session itself was just replaced)."""
    raw = session.get(CSRF_FIELD)
    found = OWNER_PATTERN.match(raw) if isinstance(raw, str) else None
    if force or raw is None or (found is not None and int(found.group(1)) != user_id):
        session[CSRF_FIELD] = f"{user_id}.{secrets.token_hex(20)}"
        g.pop(CSRF_FIELD, None)  # generate_csrf caches the signed token for the request


def bind_csrf_of_current_user() -> None:
    if request.endpoint != "static" and current_user.is_authenticated:
        bind_csrf(current_user.id)


def form_owner(posted_token: str | None) -> int | None:
    """The user a posted CSRF token was issued to, or None (a visitor's, forged, garbage)."""
    if not posted_token:
        return None
    try:
        raw = URLSafeTimedSerializer(_secret(), salt=CSRF_SALT).loads(posted_token)
    except BadData:
        return None
    found = OWNER_PATTERN.match(raw) if isinstance(raw, str) else None
    return int(found.group(1)) if found else None


def carried_fields(form: MultiDict[str, str]) -> list[tuple[str, str]]:
    """Every posted value but the CSRF token, in order, each name as often as it came."""
    return [(name, value) for name, value in form.items(multi=True) if name != CSRF_FIELD]


def interrupted_post() -> Interrupted | None:
    """This request as an interrupted form, or None when it is not one worth carrying."""
    if request.method != "POST" or not request.endpoint:
        return None
    if request.endpoint.partition(".")[0] in NOT_CARRIED_BLUEPRINTS:
        return None
    owner = form_owner(request.form.get(CSRF_FIELD))
    to = safe_next(request.full_path.removesuffix("?"))
    if owner is None or to is None:
        return None
    files = sorted({name for name, upload in request.files.items(multi=True)
                    if upload.filename})
    return Interrupted(to=to, owner=owner, fields=carried_fields(request.form), files=files)


def read_resume(form: MultiDict[str, str]) -> Interrupted | None:
    """The interrupted form posted back from the sign-in page; None if its signed part was
    altered or names a URL outside this site."""
    try:
        data = _resume_serializer().loads(form.get(RESUME_FIELD, ""))
    except BadData:
        return None
    if not isinstance(data, dict):
        return None
    to, owner = data.get("to"), data.get("owner")
    if not isinstance(to, str) or safe_next(to) is None or not isinstance(owner, int):
        return None
    fields = [(name.removeprefix(CARRY_PREFIX), value)
              for name, value in form.items(multi=True) if name.startswith(CARRY_PREFIX)]
    files = [name for name in form.getlist("archivo_perdido") if name][:20]
    return Interrupted(to=to, owner=owner, fields=fields, files=files)


def owner_email(owner: int) -> str:
    from ruta.db import db_session
    from workflow.models import User

    user = db_session().get(User, owner)
    return user.email if user is not None else ""


def render_sign_in_again(interrupted: Interrupted, *, email: str | None = None,
                         error: str | None = None, status: int = 401) -> tuple[str, int]:
    return render_template(
        "sesion/reingresar.html", interrupted=interrupted, carry_prefix=CARRY_PREFIX,
        resume_field=RESUME_FIELD, email=owner_email(interrupted.owner) if email is None
        else email, error=error), status


def render_repost(interrupted: Interrupted, *, status: int = 200,
                  recovery_codes: list[str] | None = None) -> tuple[str, int]:
    return render_template("sesion/reenviar.html", interrupted=interrupted,
                           recovery_codes=recovery_codes), status


def render_other_account(interrupted: Interrupted) -> tuple[str, int]:
    return render_template("sesion/otra_cuenta.html", interrupted=interrupted), 403


def answer_interrupted_post() -> tuple[str, int] | None:
    """The page for a POST that could not run because its session is gone or changed, or
    None when the request is not an interrupted form (the caller answers as before)."""
    interrupted = interrupted_post()
    if interrupted is None:
        return None
    if not current_user.is_authenticated:
        return render_sign_in_again(interrupted)
    if current_user.id == interrupted.owner:
        # Same person, another session (signed out and in again in another tab).
        bind_csrf(current_user.id)
        return render_repost(interrupted, status=400)
    return render_other_account(interrupted)


def init_app(app: Flask) -> None:
    """Bind each signed-in session's CSRF token to its user (after Flask-WTF has checked the
    request's token), and answer interrupted posts instead of sending them to sign in."""
    from ruta.security import login_manager, send_to_login

    app.before_request(bind_csrf_of_current_user)

    def unauthorized() -> Response | tuple[str, int]:
        return answer_interrupted_post() or send_to_login()

    login_manager.unauthorized_handler(unauthorized)
