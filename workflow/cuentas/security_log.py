"""The security log: who signed in, failed, was refused, changed an account, exported.

``record`` appends one ``SecurityEvent`` row in the caller's transaction (the table is
append-only: triggers refuse UPDATE and DELETE) and, once that transaction commits, writes the
same event as one JSON line to the ``ruta.security`` logger, for a SIEM (the app attaches a
file handler when ``SECURITY_LOG_FILE`` is set). A rolled-back event is never streamed.

Never a password or a token: ``detail`` carries ids, names of fields, counts. Kinds are
checked here, not by the database, so a new kind (MFA) needs no migration.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, event, func, or_, select
from sqlalchemy.orm import Session

from workflow.cuentas.models import SecurityEvent
from workflow.models import User, utcnow
from workflow.search_keys import LIKE_ESCAPE, contains_pattern

stream = logging.getLogger("ruta.security")

#: Every kind of event, with its Spanish label for «Seguridad».
KINDS = {
    "login_ok": "Ingreso",
    "login_failed": "Ingreso fallido",
    "login_throttled": "Ingreso bloqueado por intentos",
    "logout": "Salida",
    "session_closed": "Cierre de otra sesión",
    "mfa_ok": "Segundo paso correcto",
    "mfa_failed": "Segundo paso fallido",
    "mfa_reset": "Segundo paso restablecido",
    "password_changed": "Cambio de contraseña",
    "password_change_failed": "Cambio de contraseña rechazado",
    "password_reset_requested": "Solicitud de restablecimiento",
    "password_reset": "Contraseña restablecida",
    "invitation_accepted": "Invitación aceptada",
    "user_created": "Usuario creado",
    "user_changed": "Usuario modificado",
    "user_deactivated": "Usuario desactivado",
    "user_reactivated": "Usuario reactivado",
    "export": "Exportación",
    "takeover": "Toma de una Ruta",
    "access_denied": "Acceso negado",
}
OUTCOMES = {"ok": "Correcto", "failed": "Fallido", "denied": "Negado",
            "throttled": "Bloqueado"}
# Keys that must never reach the log, whatever a caller passes.
SECRET_KEYS = ("password", "contrasena", "contraseña", "token", "secret", "clave")
PENDING_LINES = "ruta_security_lines"


def record(session: Session, kind: str, *, actor: User | None = None,
           email: str | None = None, address: str | None = None,
           user_agent: str | None = None, outcome: str = "ok",
           detail: Mapping[str, Any] | None = None, secretaria_id: int | None = None,
           now: datetime | None = None) -> SecurityEvent:
    """Append one event. ``actor`` is the user the event is about (who signed in, who acted);
    ``email`` the address typed when there is no such user. Flushes; never commits."""
    if kind not in KINDS:
        raise ValueError(f"unknown security event kind: {kind}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown security event outcome: {outcome}")
    clean = {key: value for key, value in (detail or {}).items()
             if not any(secret in key.lower() for secret in SECRET_KEYS)}
    row = SecurityEvent(
        at=now or utcnow(), kind=kind, outcome=outcome,
        user_id=actor.id if actor is not None else None,
        secretaria_id=actor.secretaria_id if actor is not None else secretaria_id,
        email=(email if email is not None else actor.email if actor is not None else None),
        address=(address or "")[:64] or None, user_agent=(user_agent or "")[:300] or None,
        detail=clean or None)
    if row.email is not None:
        row.email = row.email[:254]
    session.add(row)
    session.flush()
    session.info.setdefault(PENDING_LINES, []).append(_line(row))
    return row


def _line(row: SecurityEvent) -> str:
    return json.dumps({
        "at": row.at.isoformat(), "kind": row.kind, "outcome": row.outcome,
        "user_id": row.user_id, "secretaria_id": row.secretaria_id, "email": row.email,
        "address": row.address, "user_agent": row.user_agent, "detail": row.detail,
        "id": row.id,
    }, ensure_ascii=False, sort_keys=True, default=str)


@event.listens_for(Session, "after_commit")
def _stream_committed(session: Session) -> None:
    for line in session.info.pop(PENDING_LINES, ()):
        stream.info(line)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, _previous: Any) -> None:
    if not session.in_transaction():
        session.info.pop(PENDING_LINES, None)


def count_since(session: Session, kind: str, since: datetime, *, address: str | None = None,
                email: str | None = None, outcome: str | None = None) -> int:
    """How many ``kind`` events since ``since`` for this address and/or e-mail."""
    statement = select(func.count()).select_from(SecurityEvent).where(
        SecurityEvent.kind == kind, SecurityEvent.at >= since)
    if address is not None:
        statement = statement.where(SecurityEvent.address == address[:64])
    if email is not None:
        statement = statement.where(SecurityEvent.email == email[:254])
    if outcome is not None:
        statement = statement.where(SecurityEvent.outcome == outcome)
    return session.scalar(statement) or 0


def events_for_secretaria(secretaria_id: int, *, kind: str | None = None,
                          who: str | None = None, since: datetime | None = None,
                          until: datetime | None = None,
                          outcome: str | None = None) -> Select[tuple[SecurityEvent]]:
    """The events an administrador of ``secretaria_id`` may read, newest first, filtered.

    Only events tied to that Secretaría: those of its users and its administradores' acts.
    A failed sign-in with an e-mail that has no account is tied to none and shown to no
    Secretaría (it names nobody of theirs; it stays in the ``ruta.security`` stream)."""
    statement = select(SecurityEvent).where(SecurityEvent.secretaria_id == secretaria_id)
    if kind:
        statement = statement.where(SecurityEvent.kind == kind)
    if outcome:
        statement = statement.where(SecurityEvent.outcome == outcome)
    if who:
        named = select(User.id).where(User.secretaria_id == secretaria_id,
                                      User.search_key.like(contains_pattern(who),
                                                           escape=LIKE_ESCAPE))
        statement = statement.where(or_(
            SecurityEvent.email.contains(who.lower(), autoescape=True),
            SecurityEvent.user_id.in_(named)))
    if since is not None:
        statement = statement.where(SecurityEvent.at >= since)
    if until is not None:
        statement = statement.where(SecurityEvent.at < until)
    return statement.order_by(SecurityEvent.at.desc(), SecurityEvent.id.desc())
