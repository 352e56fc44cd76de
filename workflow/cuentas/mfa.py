"""Two-step verification: a TOTP authenticator app (RFC 6238, ``pyotp``) plus recovery codes.

- Enrolment: ``begin_enrolment`` stores a new secret (pending) and returns it, to be shown as a
  QR code and as text; ``confirm_enrolment`` checks the first code from the app and returns ten
  recovery codes, shown once. From then on the secret is never shown again.
- Sign-in: ``verify`` takes a 6-digit code (accepted once: a code of a time step already used
  is refused) or a recovery code (single use). A wrong code is a ``LoginFailure`` of the
  account, so codes share the password throttling (``accounts.ThrottlePolicy``).
- ``reset`` (administrador) removes everything; the person enrols again.

The secret is stored encrypted with AES-GCM under a key derived (HKDF-SHA256) from the
application's SECRET_KEY (``SecretBox``); previous keys (SECRET_KEY_FALLBACKS) still decrypt,
and a secret read with one is re-encrypted with the current key at its next use. Recovery
codes are random (40 bits), so a plain SHA-256 is enough to store them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from workflow.cuentas import security_log
from workflow.cuentas.accounts import (
    LoginThrottled,
    ThrottlePolicy,
    _throttled,
    end_all_sessions,
)
from workflow.cuentas.models import MfaEnrolment, MfaRecoveryCode
from workflow.errors import DomainError, Forbidden, InvalidInput
from workflow.models import LoginFailure, User, utcnow
from workflow.roles import Role

ISSUER = "Ruta de Mejoramiento"
RECOVERY_CODE_COUNT = 10
STEP_SECONDS = 30
# One step either side: a phone clock a little off still works.
VALID_WINDOW = 1



class CodeRefused(DomainError):
    status = 401

    def __init__(self) -> None:
        super().__init__("El código no es correcto o ya se usó. Escriba el código de 6 dígitos "
                         "que muestra ahora su aplicación de autenticación, o uno de sus "
                         "códigos de recuperación.")


class SecretBox:
    """Encrypts TOTP secrets with a key derived from the app's secret keys (current first)."""

    PREFIX = "v1."

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one key")
        self._ciphers = [AESGCM(self._derive(key)) for key in keys]

    @staticmethod
    def _derive(key: str) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"ruta-mfa-totp-secret").derive(key.encode())

    def seal(self, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._ciphers[0].encrypt(nonce, secret.encode(), b"totp")
        return self.PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, stored: str) -> tuple[str, bool]:
        """The secret and whether it was sealed with the current key."""
        raw = base64.urlsafe_b64decode(stored.removeprefix(self.PREFIX))
        for number, cipher in enumerate(self._ciphers):
            try:
                return cipher.decrypt(raw[:12], raw[12:], b"totp").decode(), number == 0
            except InvalidTag:
                continue
        raise CodeRefused()  # none of the keys: the secret cannot be checked


@dataclass(frozen=True)
class Verification:
    """How a sign-in was verified (``recovery`` when a recovery code was spent)."""

    recovery: bool
    codes_left: int


def parse_roles(raw: str | Iterable[str]) -> frozenset[Role]:
    """``"administrador,revisor"`` → the roles; unknown names raise ``ValueError``."""
    items = raw.split(",") if isinstance(raw, str) else raw
    return frozenset(Role(item.strip().lower()) for item in items if item.strip())


def is_required(user: User, required_roles: Iterable[Role]) -> bool:
    return user.role in set(required_roles)


def enrolment(session: Session, user: User) -> MfaEnrolment | None:
    return session.get(MfaEnrolment, user.id)


def is_enrolled(session: Session, user: User) -> bool:
    row = enrolment(session, user)
    return row is not None and row.confirmed_at is not None


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _current_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret)
    current = _current_step(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalized(code: str) -> str:
    return "".join(char for char in code.lower() if char.isalnum())[:40]


def _new_recovery_codes(session: Session, user: User, now: datetime) -> list[str]:
    session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODE_COUNT)]
    session.add_all(MfaRecoveryCode(user_id=user.id, code_hash=_code_hash(code), created_at=now)
                    for code in codes)
    session.flush()
    # Shown in two halves (``3f9a1-c07de``): easier to copy by hand; typed either way.
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def recovery_codes_left(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(MfaRecoveryCode).where(
        MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.used_at.is_(None))) or 0


# --- enrolment ----------------------------------------------------------------------------


def begin_enrolment(session: Session, user: User, *, box: SecretBox,
                    now: datetime | None = None) -> str:
    """The secret to show for enrolment. Changes: a pending ``MfaEnrolment`` (kept across
    reloads of the page, so the QR already scanned stays valid until confirmed)."""
    row = enrolment(session, user)
    if row is not None and row.confirmed_at is not None:
        raise InvalidInput({"": ["La verificación en dos pasos ya está activa en su cuenta."]})
    if row is not None:
        return box.open(row.secret_encrypted)[0]
    secret = pyotp.random_base32()
    session.add(MfaEnrolment(user_id=user.id, secret_encrypted=box.seal(secret),
                             created_at=now or utcnow()))
    session.flush()
    return secret


def _check_throttle(session: Session, user: User, *, address: str, policy: ThrottlePolicy,
                    now: datetime, user_agent: str | None = None) -> None:
    # The same limits as the password's (per account, per account and address, per address).
    if _throttled(session, user.email, address[:64], policy, now):
        security_log.record(session, "mfa_failed", actor=user, address=address,
                            user_agent=user_agent, outcome="throttled", now=now)
        raise LoginThrottled(int(policy.window.total_seconds() // 60))


def _count_failure(session: Session, user: User, *, address: str, now: datetime,
                   user_agent: str | None = None) -> None:
    """A wrong code: a failed sign-in for the throttling, and ``mfa_failed`` in the security
    log (both flushed: the caller commits them although the attempt raises)."""
    session.add(LoginFailure(email=user.email, address=address[:64], at=now))
    security_log.record(session, "mfa_failed", actor=user, address=address,
                        user_agent=user_agent, outcome="failed", now=now)


def confirm_enrolment(session: Session, user: User, code: str, *, box: SecretBox,
                      address: str, policy: ThrottlePolicy, user_agent: str | None = None,
                      now: datetime | None = None) -> list[str]:
    """Activate the pending enrolment with the app's first code; returns the ten recovery
    codes (plain, to be shown once). A wrong code counts as a failed sign-in (flushed: the
    caller commits it) and raises ``CodeRefused``."""
    moment = now or utcnow()
    row = enrolment(session, user)
    if row is None or row.confirmed_at is not None:
        raise InvalidInput({"": ["No hay una activación pendiente: vuelva a empezar."]})
    _check_throttle(session, user, address=address, policy=policy, now=moment,
                    user_agent=user_agent)
    secret = box.open(row.secret_encrypted)[0]
    step = _matching_step(secret, _normalized(code), moment)
    if step is None:
        _count_failure(session, user, address=address, now=moment, user_agent=user_agent)
        raise CodeRefused()
    row.confirmed_at = moment
    row.last_used_step = step
    session.execute(delete(LoginFailure).where(LoginFailure.email == user.email))
    security_log.record(session, "mfa_ok", actor=user, address=address,
                        user_agent=user_agent, detail={"enrolled": True}, now=moment)
    return _new_recovery_codes(session, user, moment)


# --- sign-in ------------------------------------------------------------------------------


def verify(session: Session, user: User, code: str, *, box: SecretBox, address: str,
           policy: ThrottlePolicy, user_agent: str | None = None,
           now: datetime | None = None) -> Verification:
    """Check the second step of a sign-in. Changes on success: the last used step (or the
    recovery code's ``used_at``), the account's failures cleared. On failure a
    ``LoginFailure`` (flushed, the caller commits it) and ``CodeRefused``; past the limit,
    ``LoginThrottled`` without checking anything."""
    moment = now or utcnow()
    # Locked: two requests with the same code at once must not both pass.
    row = session.get(MfaEnrolment, user.id, with_for_update=True)
    if row is None or row.confirmed_at is None:
        raise InvalidInput({"": ["Su cuenta no tiene la verificación en dos pasos activa."]})
    _check_throttle(session, user, address=address, policy=policy, now=moment,
                    user_agent=user_agent)
    typed = _normalized(code)
    recovery = False
    if len(typed) == 6 and typed.isdigit():
        secret, current_key = box.open(row.secret_encrypted)
        step = _matching_step(secret, typed, moment)
        if step is None or (row.last_used_step is not None and step <= row.last_used_step):
            _count_failure(session, user, address=address, now=moment,
                           user_agent=user_agent)
            raise CodeRefused()
        row.last_used_step = step
        if not current_key:
            row.secret_encrypted = box.seal(secret)
    else:
        spent = None if len(typed) != 10 else session.scalar(select(MfaRecoveryCode).where(
            MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.used_at.is_(None),
            MfaRecoveryCode.code_hash == _code_hash(typed)).with_for_update())
        if spent is None:
            _count_failure(session, user, address=address, now=moment,
                           user_agent=user_agent)
            raise CodeRefused()
        spent.used_at = moment
        recovery = True
    session.execute(delete(LoginFailure).where(LoginFailure.email == user.email))
    security_log.record(session, "mfa_ok", actor=user, address=address,
                        user_agent=user_agent,
                        detail={"recovery_code": True} if recovery else None, now=moment)
    return Verification(recovery=recovery, codes_left=recovery_codes_left(session, user))


# --- managing it --------------------------------------------------------------------------


def regenerate_recovery_codes(session: Session, user: User, code: str, *, box: SecretBox,
                              address: str, policy: ThrottlePolicy,
                              now: datetime | None = None) -> list[str]:
    """New recovery codes (the old ones stop working), after a current code."""
    moment = now or utcnow()
    verify(session, user, code, box=box, address=address, policy=policy, now=moment)
    return _new_recovery_codes(session, user, moment)


def disable(session: Session, user: User, code: str, *, box: SecretBox, address: str,
            policy: ThrottlePolicy, required_roles: Iterable[Role],
            now: datetime | None = None) -> None:
    """Turn two-step verification off, after a current code; refused for a role that
    requires it."""
    if is_required(user, required_roles):
        raise Forbidden(f"Para el rol «{user.role.label}» la verificación en dos pasos es "
                        "obligatoria: no se puede desactivar.")
    verify(session, user, code, box=box, address=address, policy=policy, now=now)
    _remove(session, user)


def cancel_pending(session: Session, user: User) -> None:
    row = enrolment(session, user)
    if row is not None and row.confirmed_at is None:
        session.delete(row)
        session.flush()


def _remove(session: Session, user: User) -> None:
    session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    session.execute(delete(MfaEnrolment).where(MfaEnrolment.user_id == user.id))
    session.flush()


def reset(session: Session, user: User, *, actor: User | None,
          now: datetime | None = None) -> bool:
    """The administrador removes a person's authenticator (a lost phone): the secret and the
    recovery codes go, every session of the person ends, and they enrol again at their next
    sign-in if their role requires it. Returns whether there was anything to remove.
    ``actor`` None is the server's operator (``ruta users reset-mfa``): the last
    administrador who lost their phone has nobody else to ask."""
    if actor is not None and actor.role is not Role.ADMINISTRADOR:
        raise Forbidden("Solo la administración de la Secretaría restablece la verificación "
                        "en dos pasos.")
    if actor is not None and actor.id == user.id:
        raise InvalidInput({"": ["No puede restablecer su propia verificación en dos pasos: "
                                 "pídalo a otra persona con rol de administrador."]})
    had = enrolment(session, user) is not None
    _remove(session, user)
    end_all_sessions(session, user)
    session.flush()
    _mfa_reset_event(session, user=user, actor=actor, at=now or utcnow(),
                     had_enrolment=had)
    return had


def _mfa_reset_event(session: Session, *, user: User, actor: User | None, at: datetime,
                     had_enrolment: bool) -> None:
    """The security log's ``mfa_reset`` event (what «Seguridad» shows and the stream sends,
    once committed): the administrador who acted, or nobody for the console, and whose
    verification was reset."""
    security_log.record(session, "mfa_reset", actor=actor, secretaria_id=user.secretaria_id,
                        detail={"user_id": user.id, "user_email": user.email,
                                "had_enrolment": had_enrolment,
                                "by": "consola" if actor is None else "administrador"},
                        now=at)
