"""What a Secretaría's lists count, computed once per version of its data in each process.

The revision queue counted the horizon's Rutas by state, read the comunas of its filters and
counted the plan adjustments waiting for the Secretaría on every view: at 10,000 schools,
joins of 10,000 Rutas with their schools, more than half of the page's SQL. They change only
when a school, a Ruta's state, horizon or reviewer, or a plan adjustment (or the changes it
holds) changes, and for each such change the database replaces the Secretaría's token in
``scope_versions`` in the same transaction (triggers of migration 0039: on PostgreSQL at the
commit, on SQLite at once). ``cached`` reads the token first and keeps what it computes under
it: what it computes after the read is never older than the token says, and any later change
comes with another token, so an entry is never served for data that changed since. A
Secretaría without a token (none of its rows changed since it was created) and a transaction
that has written (on PostgreSQL its own changes are not in the token until it commits) are
computed every time.

Whatever is kept must be plain values (never ORM objects: they belong to one session) and a
function of the key alone: the Secretaría, the token and the ``key`` the caller gives, which
names everything else the computation reads (the horizon, the filters, the actor when «mis
Rutas»).

Writing rows with the triggers off (``session_replication_role = replica``, as ``bench.seed``
copies its schools) leaves the tokens as they were: such a writer calls ``bump_all`` after.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from workflow.memo import Memo
from workflow.models import ScopeVersion, Secretaria

T = TypeVar("T")


def _token_statement(postgres: bool) -> Any:
    # On PostgreSQL, whether this transaction has written anything yet (an id is assigned
    # to a transaction at its first write), read with the token in the same round trip.
    clean = (func.pg_current_xact_id_if_assigned().is_(None) if postgres
             else literal(True))
    return select(ScopeVersion.token, clean).where(
        ScopeVersion.secretaria_id == bindparam("secretaria_id"))


_STATEMENTS = {postgres: _token_statement(postgres) for postgres in (False, True)}


def token(session: Session, secretaria_id: int) -> str | None:
    """The Secretaría's current token; None when there is none or when this transaction has
    written (what it computes now may hold changes no token names yet)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    found = session.execute(_STATEMENTS[postgres], {"secretaria_id": secretaria_id}).first()
    if found is None or not found[1]:
        return None
    return str(found[0])


def cached(memo: Memo[T], session: Session, secretaria_id: int, key: Hashable,
           compute: Callable[[], T]) -> T:
    """``compute()``, or what it gave for the same ``key`` under the Secretaría's current
    token in this process."""
    current = token(session, secretaria_id)
    if current is None:
        return compute()
    return memo.get((secretaria_id, current, key), compute)


def bump_all(connection: Connection) -> None:
    """A new token for every Secretaría (after writing with the triggers off)."""
    ids = connection.scalars(select(Secretaria.id)).all()
    connection.execute(delete(ScopeVersion))
    if ids:
        connection.execute(insert(ScopeVersion), [
            {"secretaria_id": secretaria_id, "token": uuid.uuid4().hex} for secretaria_id in ids])
