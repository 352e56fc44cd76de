"""The weekly «Pendientes» digest: one e-mail per revisor and week, through the outbox.

Who gets it: every active revisor who activated the account and has something in «míos»
(``workflow.pendientes.desk``: what they hold plus what nobody holds, such as PMIs to take).
Nothing pending, no e-mail (and nothing recorded: a revisor whose desk fills later in the
week gets that week's digest then). The administración does not get it: its desk is the
page itself.

At most once per week (the ISO week of the Bogotá day): ``pending_digests`` has UNIQUE
(user_id, week); the row is inserted with ``ON CONFLICT DO NOTHING`` in the same transaction
as the outbox row (whose ``dedupe_key`` names the same revisor and week), so a rerun, two
schedulers at once or a crash between the two inserts never mail twice. Flushes, never
commits: the job commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow import outbox
from workflow.dates import fecha
from workflow.models import User
from workflow.pendientes.desk import (
    KIND_LABELS,
    Filters,
    count_pending,
    counts_by_kind,
    items_of,
    ordered,
    pending_union,
)
from workflow.pendientes.models import PendingDigest
from workflow.roles import Role
from workflow.seguimiento.models import bogota_day

DIGEST_KIND: Final = "pendientes_semanal"
DIGEST_JOB: Final = "resumen_pendientes"
# How many of the oldest items the e-mail lists (the rest are a link away).
OLDEST_SHOWN: Final = 5
MINE: Final = Filters(mine=True)


@dataclass(frozen=True)
class QueuedDigest:
    user_id: int
    email: str
    week: str
    items: int


def week_of(day: date) -> str:
    """The ISO week of a Bogotá day: «2026-W49» (1 January 2027, a Friday, is «2026-W53»)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _claim(session: Session, reviewer: User, *, week: str, day: date, items: int,
           now: datetime) -> bool:
    """Record the week's digest of ``reviewer``; False when it was recorded before."""
    return bool(outbox.insert_new(
        session, PendingDigest.__table__,  # type: ignore[arg-type]
        [{"user_id": reviewer.id, "week": week, "day": day, "items": items,
          "created_at": now}], conflict=["user_id", "week"], returning=["id"]))


def send_weekly_digests(session: Session, *, now: datetime) -> list[QueuedDigest]:
    """Queue this week's digest for every revisor who has something pending and has not had
    it yet. Flushes only."""
    day = bogota_day(now)
    week = week_of(day)
    already = select(PendingDigest.user_id).where(PendingDigest.week == week)
    reviewers = session.scalars(select(User).where(
        User.role == Role.REVISOR, User.active, User.activated_at.is_not(None),
        User.id.not_in(already)).order_by(User.id)).all()
    queued = []
    for reviewer in reviewers:
        counts = counts_by_kind(session, reviewer, MINE)
        total = sum(counts.values())
        if not total or not _claim(session, reviewer, week=week, day=day, items=total,
                                   now=now):
            continue
        oldest = items_of(session, session.execute(
            ordered(pending_union(reviewer, MINE)).limit(OLDEST_SHOWN)).all(), now=now)
        context = {
            "reviewer_name": reviewer.name,
            "secretaria_name": reviewer.secretaria.name,
            "week_start": fecha(date.fromisocalendar(*day.isocalendar()[:2], 1)),
            "total": total,
            "everyone": count_pending(session, reviewer),
            "counts": [{"label": KIND_LABELS[kind], "amount": amount}
                       for kind, amount in counts.items() if amount],
            "oldest": [{"school": item.school.name, "kind": item.kind_label,
                        "what": item.what, "days": item.days,
                        "since": fecha(bogota_day(item.since)),
                        "url": outbox.absolute_url(session, item.path)} for item in oldest],
            "pendientes_url": outbox.absolute_url(session, "/pendientes/?vista=mios"),
        }
        outbox.enqueue(session, kind=DIGEST_KIND, to=[reviewer.email], context=context,
                       dedupe_key=f"pendientes:{reviewer.id}:{week}",
                       secretaria_id=reviewer.secretaria_id, now=now)
        queued.append(QueuedDigest(reviewer.id, reviewer.email, week, total))
    session.flush()
    return queued
