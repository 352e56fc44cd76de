"""Single-use, expiring links for account invitations and password resets.

Administrators never handle passwords: they invite, and the person chooses their own. The
link carries a random token; the database keeps only its SHA-256, so a leaked table opens no
account. Issuing a new link of the same purpose retires the previous unused ones.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflow.cuentas.accounts import Passwords, password_problems, set_password
from workflow.cuentas.models import AccountToken, TokenPurpose
from workflow.errors import Forbidden, InvalidInput
from workflow.models import User, utcnow
from workflow.roles import Role

LIFETIMES = {
    TokenPurpose.INVITATION: timedelta(days=7),
    TokenPurpose.PASSWORD_RESET: timedelta(hours=2),
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()



def issue(session: Session, user: User, purpose: TokenPurpose, *,
          now: datetime | None = None) -> str:
    """A fresh link token for ``user``; earlier unused ones of the same purpose stop working."""
    moment = now or utcnow()
    session.execute(update(AccountToken).where(
        AccountToken.user_id == user.id, AccountToken.purpose == purpose,
        AccountToken.used_at.is_(None)).values(used_at=moment))
    token = secrets.token_urlsafe(32)
    session.add(AccountToken(user_id=user.id, purpose=purpose, token_hash=token_hash(token),
                             created_at=moment, expires_at=moment + LIFETIMES[purpose]))
    session.flush()
    return token


INVALID_LINK = ("El enlace no es válido. Pida uno nuevo: use «¿Olvidó su contraseña?» en la "
                "página de ingreso, o escriba a la Secretaría si es una invitación.")


def _find(session: Session, token: str, purpose: TokenPurpose, moment: datetime) -> AccountToken:
    found = session.scalar(select(AccountToken).where(AccountToken.token_hash == token_hash(token),
                                                      AccountToken.purpose == purpose))
    if found is None or not found.user.active:
        raise InvalidInput({"": [INVALID_LINK]})
    if found.used_at is not None:
        raise InvalidInput({"": ["Este enlace ya se usó o fue reemplazado por uno más reciente. "
                                 "Use el último que recibió, o pida uno nuevo."]})
    if found.expires_at <= moment:
        raise InvalidInput({"": ["Este enlace venció. Pida uno nuevo."]})
    return found


def check(session: Session, token: str, purpose: TokenPurpose, *,
          now: datetime | None = None) -> User:
    """The user a still-valid link belongs to (``InvalidInput`` otherwise). Changes nothing."""
    return _find(session, token, purpose, now or utcnow()).user


def redeem(session: Session, token: str, purpose: TokenPurpose, *, password: str,
           confirm: str, passwords: Passwords, now: datetime | None = None) -> User:
    """Use the link to set the person's own password. The link stops working.

    Changes: the password (not temporary), ends the user's other sessions, marks the link used.
    """
    moment = now or utcnow()
    found = _find(session, token, purpose, moment)
    user = found.user
    problems = password_problems(password, email=user.email)
    if problems:
        raise InvalidInput({"new": problems})
    if password != confirm:
        raise InvalidInput({"confirm": ["La confirmación no coincide con la contraseña."]})
    set_password(session, user, password, passwords=passwords)
    found.used_at = moment
    session.flush()
    return user


def invite(session: Session, user: User, *, actor: User | None,
           now: datetime | None = None) -> str:
    """Issue an invitation link for ``user`` (administrators only). Returns the token."""
    if actor is not None and actor.role is not Role.ADMINISTRADOR:
        raise Forbidden("Solo la administración de la Secretaría invita usuarios.")
    if not user.active:
        raise InvalidInput({"": ["No se puede invitar a un usuario desactivado."]})
    return issue(session, user, TokenPurpose.INVITATION, now=now)
