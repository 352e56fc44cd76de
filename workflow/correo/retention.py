"""How long the outbox keeps what it sent (issue 17): the bodies of a message sent more than
``OUTBOX_RETENTION_DAYS`` ago are emptied by the daily pass.

What stays is the audit of what was sent: the row, its recipients and copies, subject,
status, attempts, creation and sending times, its Message-ID (``<ruta-correo-{id}@…>``,
built from the row's id) and the Ruta it was about. What goes is the text and HTML bodies
and any personal link still held (delivery already empties it when a message is sent).
``body_pruned_at`` records when; a pruned message is not touched again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from workflow.models import OutboxMessage, OutboxStatus

DEFAULT_RETENTION_DAYS = 180


def prune_sent(session: Session, *, now: datetime,
               retention_days: int = DEFAULT_RETENTION_DAYS) -> int:
    """Empty the bodies of the messages sent more than ``retention_days`` before ``now``
    (one sent exactly that long ago stays whole). Returns how many. Flushes nothing of its
    own: one UPDATE in the caller's transaction."""
    cutoff = now - timedelta(days=retention_days)
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.SENT,
               OutboxMessage.sent_at < cutoff,
               OutboxMessage.body_pruned_at.is_(None))
        .values(text_body="", html_body="", secret_link=None, body_pruned_at=now)
        .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]
