"""Invitations and password resets by e-mail: a single-use link, queued in the outbox."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Select, exists
from sqlalchemy.orm import Session

from workflow.cuentas import tokens
from workflow.cuentas.models import AccountToken, TokenPurpose
from workflow.cuentas.tokens import LIFETIMES
from workflow.models import User, utcnow
from workflow.outbox import SECRET_LINK_PLACEHOLDER, absolute_url, enqueue


def _context(session: Session, user: User, expires_at: datetime) -> dict[str, object]:
    # The link itself travels as the message's ``secret_link``, never in its bodies.
    link = SECRET_LINK_PLACEHOLDER
    return {
        "user_name": user.name, "email": user.email, "role_label": user.role.label,
        "school_name": user.school.name if user.school else "",
        "secretaria_name": user.secretaria.name, "link": link, "expires_at": expires_at,
    }


def _dedupe_key(purpose: TokenPurpose, token: str) -> str:
    # One message per link; the key names the link without revealing it.
    return f"account:{purpose.value}:{hashlib.sha256(token.encode()).hexdigest()[:32]}"


def send_invitation(session: Session, user: User, *, actor: User | None,
                    now: datetime | None = None) -> None:
    """Invite ``user`` to choose a password. Changes: a new link (older ones stop working)
    and one outbox message."""
    moment = now or utcnow()
    token = tokens.invite(session, user, actor=actor, now=moment)
    link = absolute_url(session, f"/invitacion/{token}")
    enqueue(session, kind="invitacion", to=user.email,
            context=_context(session, user, moment + LIFETIMES[TokenPurpose.INVITATION]),
            dedupe_key=_dedupe_key(TokenPurpose.INVITATION, token),
            secretaria_id=user.secretaria_id, secret_link=link, now=moment)


def send_password_reset(session: Session, email: str, *, now: datetime | None = None) -> bool:
    """Mail a reset link to the active account with ``email``, if there is one and it has not
    asked too often. True when a message was queued (the page never says which)."""
    moment = now or utcnow()
    found = tokens.reset_for_email(session, email, now=moment)
    if found is None:
        return False
    user, token = found
    link = absolute_url(session, f"/restablecer/{token}")
    return enqueue(
        session, kind="restablecer_contrasena", to=user.email,
        context=_context(session, user, moment + LIFETIMES[TokenPurpose.PASSWORD_RESET]),
        dedupe_key=_dedupe_key(TokenPurpose.PASSWORD_RESET, token),
        secretaria_id=user.secretaria_id, secret_link=link, now=moment)


def without_live_invitation(query: Select[tuple[User]], *,
                            now: datetime | None = None) -> Select[tuple[User]]:
    """``query`` (users) narrowed to active accounts without a password and without an
    invitation link that still works (unused and not expired): those a bulk invitation
    reaches. Someone whose link is still valid keeps it."""
    moment = now or utcnow()
    live = exists().where(AccountToken.user_id == User.id,
                          AccountToken.purpose == TokenPurpose.INVITATION,
                          AccountToken.used_at.is_(None), AccountToken.expires_at > moment)
    return query.where(User.active, User.password_hash.is_(None), ~live).order_by(User.id)


def invite_without_live_invitation(session: Session, query: Select[tuple[User]], *,
                                   actor: User | None,
                                   now: datetime | None = None) -> list[User]:
    """Invite the accounts of ``query`` that ``without_live_invitation`` keeps (one new link
    and one outbox message each); no valid link is voided. Returns those invited."""
    moment = now or utcnow()
    pending = list(session.scalars(without_live_invitation(query, now=moment)))
    for user in pending:
        send_invitation(session, user, actor=actor, now=moment)
    return pending


PASSWORD_CHANGES = {
    "cambio": "cambió la contraseña de su cuenta desde «Cambiar contraseña»",
    "restablecimiento": "restableció la contraseña de su cuenta con un enlace de "
                        "«¿Olvidó su contraseña?»",
}


def notify_password_changed(session: Session, user: User, *, how: str,
                            now: datetime | None = None) -> None:
    """Tell the person their password changed (``how``: a key of ``PASSWORD_CHANGES``), so a
    change they did not make does not go unnoticed. One message per change, in the caller's
    transaction; it carries no link that signs anyone in."""
    moment = now or utcnow()
    enqueue(session, kind="contrasena_cambiada", to=user.email,
            context={"user_name": user.name, "email": user.email, "at": moment,
                     "what": PASSWORD_CHANGES[how],
                     "secretaria_name": user.secretaria.name,
                     "reset_url": absolute_url(session, "/recuperar-contrasena")},
            dedupe_key=f"account:password-changed:{user.id}:{moment.isoformat()}",
            secretaria_id=user.secretaria_id, now=moment)
