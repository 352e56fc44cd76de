"""Invitations and password resets by e-mail: a single-use link, queued in the outbox."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session, joinedload

from workflow.cuentas import security_log, tokens
from workflow.cuentas.accounts import normalize_email
from workflow.cuentas.models import AccountToken, TokenPurpose
from workflow.cuentas.tokens import LIFETIMES
from workflow.models import User, utcnow
from workflow.outbox import SECRET_LINK_PLACEHOLDER, absolute_url, enqueue, render


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


@dataclass(frozen=True)
class ResetLimits:
    """Reset requests answered with a mail per ``window``: per address (one machine asking for
    many accounts) and per e-mail (one mailbox flooded)."""

    per_address: int = 5
    per_account: int = 3
    window: timedelta = timedelta(hours=1)


RESET_REQUESTED = "password_reset_requested"


def request_password_reset(session: Session, email: str, *, address: str,
                           user_agent: str | None = None, limits: ResetLimits | None = None,
                           now: datetime | None = None) -> bool:
    """Mail a reset link to the active account with ``email``, unless this address or this
    e-mail asked too often. True when a message was queued (the page never says which).

    Changes: a security event (``password_reset_requested``: ok, failed when there is no
    active account, throttled), which is also what the limits count; when sent, a new link
    (older ones stop working) and one outbox message.

    Both paths do the same work before the page answers, so its timing does not tell whether
    the account exists: the same queries, a token drawn and hashed, the message rendered
    (for nobody, when there is no account). Only the two INSERTs of a real message differ.
    """
    moment = now or utcnow()
    limits = limits or ResetLimits()
    email = normalize_email(email)[:254]
    address = (address or "")[:64]
    # What the message needs is loaded by this one query: no lazy load on one path only.
    user = session.scalar(select(User).where(User.email == email, User.active)
                          .options(joinedload(User.secretaria), joinedload(User.school)))
    since = moment - limits.window
    throttled = (security_log.count_since(session, RESET_REQUESTED, since, address=address)
                 >= limits.per_address
                 or security_log.count_since(session, RESET_REQUESTED, since, email=email)
                 >= limits.per_account)
    sent = False
    expires_at = moment + LIFETIMES[TokenPurpose.PASSWORD_RESET]
    if user is not None and not throttled:
        token = tokens.issue(session, user, TokenPurpose.PASSWORD_RESET, now=moment)
        link = absolute_url(session, f"/restablecer/{token}")
        sent = enqueue(session, kind="restablecer_contrasena", to=user.email,
                       context=_context(session, user, expires_at),
                       dedupe_key=_dedupe_key(TokenPurpose.PASSWORD_RESET, token),
                       secretaria_id=user.secretaria_id, secret_link=link, now=moment)
    else:
        stand_in = secrets.token_urlsafe(32)
        tokens.token_hash(stand_in)
        absolute_url(session, f"/restablecer/{stand_in}")
        render("restablecer_contrasena", {
            "user_name": email, "email": email, "role_label": "", "school_name": "",
            "secretaria_name": "", "link": SECRET_LINK_PLACEHOLDER, "expires_at": expires_at})
    security_log.record(
        session, RESET_REQUESTED, actor=user, email=email, address=address,
        user_agent=user_agent, now=moment,
        outcome="throttled" if throttled else "ok" if user is not None else "failed")
    return sent


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


def notify_email_changed(session: Session, user: User, *, old_email: str,
                         now: datetime | None = None) -> None:
    """Tell the person, at the address they had, that the administración changed the e-mail
    of their account: whoever controls the new address can reset the password, so a change
    they did not ask for must not go unnoticed. In the caller's transaction; no link."""
    moment = now or utcnow()
    enqueue(session, kind="correo_cambiado", to=old_email,
            context={"user_name": user.name, "old_email": old_email, "new_email": user.email,
                     "at": moment, "secretaria_name": user.secretaria.name},
            dedupe_key=f"account:email-changed:{user.id}:{moment.isoformat()}",
            secretaria_id=user.secretaria_id, now=moment)


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
