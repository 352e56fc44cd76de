"""The table of single-use account links and its column enum.

``AccountToken``: the SHA-256 of one invitation or password-reset link (``TokenPurpose``), with
its expiry and when it was used. Issuing and redeeming the links is
``workflow.cuentas.tokens``'s.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum as PyEnum

from sqlalchemy import ForeignKey, Index, String
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
