"""The web side of two-step verification: the sign-in waiting for its code, the QR code.

Between the password and the code nobody is signed in: no session row exists yet. The Flask
session (a cookie signed with SECRET_KEY, so it cannot be forged) holds only who passed the
password step and when; after ``PENDING_SECONDS`` the person starts again. The session row is
created only once the code is right (``finish_sign_in``).
"""

from __future__ import annotations

import time
from typing import Any

import segno
from flask import session
from flask_login import login_user
from markupsafe import Markup
from sqlalchemy.orm import Session

from ruta.security import client_address, user_agent
from workflow.cuentas import accounts
from workflow.cuentas.mfa import provisioning_uri
from workflow.models import User

PENDING_KEY = "mfa_pendiente"
PENDING_SECONDS = 5 * 60
EXPIRED_MESSAGE = ("Pasaron más de 5 minutos desde que escribió su contraseña: por seguridad, "
                   "ingrese de nuevo.")


def start_pending(user: User, *, next_url: str | None = None) -> None:
    """A fresh session (no fixation) that remembers only who passed the password step."""
    session.clear()
    pending: dict[str, Any] = {"user": user.id, "at": int(time.time())}
    if next_url:
        pending["next"] = next_url
    session[PENDING_KEY] = pending


def pending_user(database: Session) -> tuple[User, str | None] | None:
    """The active user waiting for their code and where they were going, or None when
    nobody is waiting or the wait expired."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("user"), int):
        return None
    at = pending.get("at")
    if not isinstance(at, int) or not 0 <= time.time() - at <= PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None
    user = database.get(User, pending["user"])
    if user is None or not user.active:
        return None
    next_url = pending.get("next")
    return user, next_url if isinstance(next_url, str) else None


def finish_sign_in(database: Session, user: User) -> None:
    """Start the real session (a new cookie and session row) and commit."""
    session.clear()
    accounts.start_session(database, user, address=client_address(), user_agent=user_agent())
    database.commit()
    login_user(user)


def qr_svg(user: User, secret: str) -> Markup:
    """The enrolment QR code as inline SVG (drawn here: no external service sees the
    secret), labelled for screen readers."""
    code = segno.make(provisioning_uri(user, secret), error="m")
    svg = code.svg_inline(scale=4, border=4, dark="#000", light="#fff", svgclass="qr",
                          lineclass=None, title="Código QR para su aplicación de "
                          "autenticación")
    svg = svg.replace("<svg ", '<svg role="img" aria-label="Código QR para su aplicación de '
                      'autenticación" ', 1)
    # segno's markup holds only paths and the fixed title: nothing a person typed.
    return Markup(svg)  # noqa: S704


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[index:index + 4] for index in range(0, len(secret), 4))
