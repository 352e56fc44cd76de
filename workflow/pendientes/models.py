"""The record of the weekly «Pendientes» digests: one row per (revisor, week), by constraint.

The digest pass (``workflow.pendientes.digest``) inserts the row with ``ON CONFLICT DO
NOTHING`` in the same transaction as the outbox row of the e-mail, so a revisor gets at most
one digest per week whatever happens: a second run the same week, two schedulers at once, a
crash between the two inserts (the transaction rolls both back).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from workflow.models import Base, utcnow


class PendingDigest(Base):
    __tablename__ = "pending_digests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The ISO week of the Bogotá day it was queued, «2026-W49».
    week: Mapped[str] = mapped_column(String(8))
    # The Bogotá day of the run that queued it, and how many items it listed.
    day: Mapped[date] = mapped_column(Date)
    items: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "week", name="uq_pending_digests_user_week"),
        CheckConstraint("items > 0", name="items_positive"),
    )
