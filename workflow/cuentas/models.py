"""The table of single-use account links and its column enum.

``AccountToken``: the SHA-256 of one invitation or password-reset link (``TokenPurpose``), with
its expiry and when it was used. Issuing and redeeming the links is
``workflow.cuentas.tokens``'s.

``MfaEnrolment`` and ``MfaRecoveryCode``: a person's TOTP secret (encrypted) and their
single-use recovery codes (hashed); ``workflow.cuentas.mfa`` reads and writes them.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum as PyEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.models import Base, User, str_enum, utcnow


class TokenPurpose(PyEnum):
    INVITATION = "invitacion"
    PASSWORD_RESET = "restablecer"  # noqa: S105 (a purpose, not a password)


class AccountToken(Base):
    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[TokenPurpose] = mapped_column(str_enum(TokenPurpose, "token_purpose"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # Set when the link is used, or when a newer link of the same purpose retires it.
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_account_tokens_user_purpose", "user_id", "purpose"),)


class MfaEnrolment(Base):
    """A person's authenticator app (TOTP). At most one per user.

    ``confirmed_at`` is NULL while enrolment is pending (the QR is on screen, no code typed
    yet): a pending row asks nothing at sign-in. The secret is stored encrypted (AES-GCM, key
    derived from SECRET_KEY: ``workflow.cuentas.mfa.SecretBox``) and shown only until
    enrolment is confirmed."""

    __tablename__ = "mfa_enrolments"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    # The TOTP time step (unix time // 30) of the last code accepted: a code of that step or
    # an earlier one is refused, so a code seen over someone's shoulder cannot be replayed.
    last_used_step: Mapped[int | None] = mapped_column(Integer)

    user: Mapped[User] = relationship()


class MfaRecoveryCode(Base):
    """One single-use recovery code: its SHA-256 (the codes are random, 40 bits: a slow
    hash adds nothing), and when it was used."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class SecurityEvent(Base):
    """One security-relevant event (``workflow.cuentas.security_log``): append-only.

    ``secretaria_id`` is the Secretaría whose administrators may read the event on
    «Seguridad»: the user's, when the event names one. A failed sign-in with an e-mail that
    has no account belongs to no Secretaría (it is in the ``ruta.security`` stream only).
    Never a password or a token: ``detail`` holds ids and names of what changed.
    """

    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    secretaria_id: Mapped[int | None] = mapped_column(ForeignKey("secretarias.id"))
    # The e-mail typed (failed sign-ins, reset requests) or the user's.
    email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        CheckConstraint("outcome IN ('ok', 'failed', 'denied', 'throttled')",
                        name="known_outcome"),
        Index("ix_security_events_secretaria_at", "secretaria_id", "at"),
        Index("ix_security_events_kind_address_at", "kind", "address", "at"),
        Index("ix_security_events_kind_email_at", "kind", "email", "at"),
    )
