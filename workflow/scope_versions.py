"""What a Secretaría's lists count, computed once per version of its data in each process.

The revision queue counted the horizon's Rutas by state, read the comunas of its filters and
counted the plan adjustments waiting for the Secretaría on every view, every page of the
Secretaría counted the «Pendientes» badge, and «Correo saliente» its messages by status: at
10,000 schools, scans of 10,000 Rutas with their schools (or of 120,000 messages), most of
those pages' SQL. They change only when a few tables do, and for each such change the
database replaces one of the Secretaría's tokens in ``scope_versions`` in the same
transaction (triggers of migration 0039, which lists what each token watches: ``LISTS``,
what the lists count; ``OUTBOX``, the messages' statuses; on PostgreSQL at the commit, on
SQLite at once). ``cached`` reads the token first and keeps what it computes under it: what
it computes after the read is never older than the token says, and any later change comes
with another token, so an entry is never served for data that changed since. A Secretaría
without a token and a transaction that has written (on PostgreSQL its own changes are not in
the token until it commits) are computed every time.

Whatever is kept must be plain values (never ORM objects: they belong to one session) and a
function of the key alone: the Secretaría, the token and the ``key`` the caller gives, which
names everything else the computation reads (the horizon, the filters, the actor when «mis
Rutas»), and read only what the token's triggers watch.

Writing rows with the triggers off (``session_replication_role = replica``, as ``bench.seed``
copies its schools) leaves the tokens as they were: such a writer calls ``bump_all`` after.

Two tables have no trigger on their inserts: ``reminders_sent`` (the daily pass records some
9,000 reminders at once; a row trigger cost it 0.1–0.2 s) and ``ruta_transitions`` (the
history, append-only). The same statement that reads the tokens reads the largest id of each
(``Version``: an index-only look at the end of a primary key), for a key that must change
when a row is added to them (the revision queue's).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, column, delete, func, insert, literal, select, table
from sqlalchemy.orm import Session

from workflow.memo import Memo
from workflow.models import RutaTransition, ScopeVersion, Secretaria

T = TypeVar("T")


#: The tokens (``ScopeVersion.kind``): what the lists count (the revision queue, the
#: «Pendientes» badge), the outbox's counts by status, what the consolidado shows
#: (/reportes/: its aggregates, schools, horizons; migration 0042) and what the revision
#: queue shows (its rows, filters and horizons; migration 0043).
LISTS, OUTBOX, CONSOLIDADO, QUEUE = "lists", "outbox", "consolidado", "queue"
KINDS = (LISTS, OUTBOX, CONSOLIDADO, QUEUE)

# Named, not imported: the core does not import the stages
# (``workflow.horizontes.models.ReminderSent``).
_REMINDERS = table("reminders_sent", column("id"))


@dataclass(frozen=True)
class Version:
    """A token with the largest ids of the two tables no trigger watches on insert, read in
    one statement (so from one snapshot): a reminder or a transition added anywhere moves
    ``latest_reminder`` or ``latest_transition`` (None: the table is empty).

    Ids are handed out before the commit, so a row that commits after one with a larger id
    moves neither. That takes two writers of the same log at once: reminders are only added
    by the daily pass (one scheduler), and every transition a service logs also rewrites its
    Ruta's state, which replaces the tokens that watch it at that commit; only rows added
    behind the services' back, by two transactions at once, could go unseen."""

    token: str
    latest_reminder: int | None
    latest_transition: int | None


def _token_statement(postgres: bool) -> Any:
    # Every token at once (a page may want several: a GET request reads them once), and, on
    # PostgreSQL, whether this transaction has written anything yet (an id is assigned to a
    # transaction at its first write), in the same round trip; and the largest ids of the
    # two logs (``Version``): each the last entry of a primary key's index.
    clean = (func.pg_current_xact_id_if_assigned().is_(None) if postgres
             else literal(True))
    return select(ScopeVersion.kind, ScopeVersion.token, clean,
                  select(func.max(_REMINDERS.c.id)).scalar_subquery(),
                  select(func.max(RutaTransition.id)).scalar_subquery()).where(
        ScopeVersion.secretaria_id == bindparam("secretaria_id"))


_STATEMENTS = {postgres: _token_statement(postgres) for postgres in (False, True)}


def version(session: Session, secretaria_id: int, kind: str = LISTS, *,
            fresh: bool = False) -> Version | None:
    """The Secretaría's current token of ``kind`` with the logs' largest ids; None when
    there is no token or when this transaction has written (what it computes now may hold
    changes no token names yet).

    ``fresh`` asks the database even when this GET request read the tokens already: the
    request's read memo (``ruta.read_memo``) answers a repeated read with the first one's rows,
    and forgets them on writes made through the session only, not on those sent straight to
    the driver (``plain_rows.driver_for_writes``)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    statement, parameters = _STATEMENTS[postgres], {"secretaria_id": secretaria_id}
    rows = (session.connection().execute(statement, parameters).all() if fresh
            else session.execute(statement, parameters).all())
    return next((Version(str(found), reminder, transition)
                 for of, found, clean, reminder, transition in rows if of == kind and clean),
                None)


def token(session: Session, secretaria_id: int, kind: str = LISTS, *,
          fresh: bool = False) -> str | None:
    """The Secretaría's current token of ``kind`` (``version`` says when it is None)."""
    found = version(session, secretaria_id, kind, fresh=fresh)
    return None if found is None else found.token


_MEMOS: list[Memo[Any]] = []


def memo(size: int) -> Memo[Any]:
    """A memo for ``cached`` of at most ``size`` entries (``clear_memos`` empties them all)."""
    made: Memo[Any] = Memo(size)
    _MEMOS.append(made)
    return made


def clear_memos() -> None:
    """Forget what every memo of ``cached`` keeps (tests that count statements)."""
    for kept in _MEMOS:
        kept.clear()


def cached(memo: Memo[T], session: Session, secretaria_id: int, key: Hashable,
           compute: Callable[[], T], *, kind: str = LISTS) -> T:
    """``compute()``, or what it gave for the same ``key`` under the Secretaría's current
    token of ``kind`` in this process."""
    current = token(session, secretaria_id, kind)
    if current is None:
        return compute()
    return memo.get((secretaria_id, kind, current, key), compute)


def kept_while_current(memo: Memo[tuple[T, datetime | None]], session: Session,
                       secretaria: Secretaria, kind: str, current: Version, key: Hashable,
                       draw: Callable[[], tuple[T, datetime | None]], now: datetime) -> T:
    """What ``draw()`` gives (a page's drawn body), kept in ``memo`` under ``key``, which
    names ``current`` (the Secretaría's ``kind`` read before) and everything else it is drawn
    from, until the moment ``draw`` says it stops holding (None: never by time alone).

    Before drawing, the Secretaría's row (its current horizon, loaded with the session
    before the token) is read again, so nothing drawn is older than the token. What was drawn
    is kept only if the token read again after drawing, from the database and not the GET's
    read memo, is still ``current``: otherwise it may hold a change no token names, or this
    request's own writes."""
    kept = memo.peek(key)
    if kept is not None and (kept[1] is None or now < kept[1]):
        return kept[0]
    session.expire(secretaria)
    drawn = draw()
    if version(session, secretaria.id, kind, fresh=True) == current:
        memo.put(key, drawn)
    return drawn[0]


def bump_all(connection: Connection) -> None:
    """New tokens for every Secretaría (after writing with the triggers off)."""
    ids = connection.scalars(select(Secretaria.id)).all()
    connection.execute(delete(ScopeVersion))
    if ids:
        connection.execute(insert(ScopeVersion), [
            {"secretaria_id": secretaria_id, "kind": kind, "token": uuid.uuid4().hex}
            for secretaria_id in ids for kind in KINDS])
