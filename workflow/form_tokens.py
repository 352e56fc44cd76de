"""One-time tokens that make creation idempotent.

A form that creates something (a PMI element, a team member, an observation) carries a token
made when the form was drawn. The first post that uses it records it; a second post with the
same token (back and «Guardar» again, a double tap, a retry after a timeout) creates nothing
and learns what the first one created, so the view can show it. Two posts racing with one
token: the primary key lets one insert win; the other waits for it (PostgreSQL) and then
finds the row.

A form posted without a token (an old page, a script) is not protected, only accepted: the
token helps the person, it is not a permission.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from workflow.models import FormSubmission, User, utcnow

# What ``new_token`` makes: 32 URL-safe characters. Anything else posted is ignored.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{20,64}")
# The form field that carries the token.
FIELD = "form_token"


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Earlier:
    """The token was already used: ``result`` is what that use created (None: still unknown,
    the first post has not finished or failed before creating anything)."""

    result: str | None


def claim(session: Session, token: str | None, *, user: User,
          now: datetime | None = None) -> Earlier | None:
    """Record the first use of ``token``; ``Earlier`` when it was used before, None when this
    is the first use (or no valid token came, so there is nothing to protect).

    ``INSERT … ON CONFLICT DO NOTHING`` rather than a savepoint: a concurrent first use makes
    PostgreSQL wait for it and then insert nothing, and the transaction stays usable."""
    if not token or not TOKEN_PATTERN.fullmatch(token):
        return None
    insert = (postgresql_insert if session.get_bind().dialect.name == "postgresql"
              else sqlite_insert)
    inserted = session.execute(
        insert(FormSubmission)
        .values(token=token, user_id=user.id, created_at=now or utcnow())
        .on_conflict_do_nothing(index_elements=["token"])
        .returning(FormSubmission.token)).scalar_one_or_none()
    if inserted is not None:
        return None
    result = session.scalar(select(FormSubmission.result).where(FormSubmission.token == token))
    return Earlier(result)


def record(session: Session, token: str | None, result: str) -> None:
    """Say what the first use of ``token`` created (``kind:id``)."""
    if not token or not TOKEN_PATTERN.fullmatch(token):
        return
    session.execute(update(FormSubmission).where(FormSubmission.token == token)
                    .values(result=result[:120]))


def purge(session: Session, *, before: datetime) -> int:
    """Forget tokens older than ``before``; returns how many. Forms live hours, not weeks."""
    removed = session.execute(delete(FormSubmission).where(FormSubmission.created_at < before)
                              .returning(FormSubmission.token))
    return len(removed.all())
