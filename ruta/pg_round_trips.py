"""Fewer round trips to PostgreSQL per request (issue 17).

A signed-in page that needs one statement (the session and its user) cost five round trips:
a ping when the pool handed the connection out, ``BEGIN``, the statement, the question «did
this transaction write?» (``ruta.db.commit_if_read_only``) and ``COMMIT``. Under load each
round trip is a wake-up of a PostgreSQL process and of the worker's thread on a two-core
machine. Two changes take that page to one round trip, keeping what each replaced guarantees:

**Liveness without a ping** (``check_alive``, in place of SQLAlchemy's ``pool_pre_ping``).
A connection waiting in the pool has nothing in flight, so its socket has nothing to read
unless the server spoke first: a restart, ``pg_terminate_backend`` or a crashed backend sends
its notice and closes the socket (a crash closes it without a notice). So the check asks the
kernel, without sending anything, whether the socket is readable, and libpq whether the
connection is still good; either says no, and SQLAlchemy throws the connection away and hands
out a new one (``DisconnectionError``, retried by the pool). Like the ping, it cannot see a
server that vanished without closing the connection (a cut cable): that wait is TCP's.

**A GET reads outside a transaction** (``reads_outside_transactions``). GET and HEAD requests
write nothing, save the session's own bookkeeping, which is written in its own session
(``ruta.security``). Their reads run in autocommit: under READ COMMITTED, PostgreSQL's
isolation and ours, every statement sees a fresh snapshot anyway, inside a transaction or
not, so the pages see what they saw; what goes is ``BEGIN`` and the end of the transaction.
The first statement that is not a plain read (a write, a row lock, an advisory lock, a
sequence) starts a transaction before it is sent (``begin_before_writes``), so it and
everything after it are committed or rolled back together, at the end of the request, as
before. Code that writes through the driver's own connection, which no SQLAlchemy event sees,
asks for it with ``workflow.plain_rows.driver_for_writes``. A connection goes back to the pool
with transactions on.
"""

from __future__ import annotations

import select as select_module
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.pq import ConnStatus, TransactionStatus
from sqlalchemy import Connection, Engine, event, exc
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from workflow.plain_rows import AUTOCOMMITTED_READS

# ``Session.info`` key: this session's reads may run outside a transaction.
READS_OUTSIDE = "ruta_reads_outside_transactions"
# What, in a statement that starts with SELECT, may write, lock or take a value that a
# rollback should not see go: such a statement starts the transaction.
_NOT_PLAIN = (" FOR UPDATE", " FOR NO KEY UPDATE", " FOR SHARE", " FOR KEY SHARE",
              "PG_ADVISORY", "NEXTVAL(", "SETVAL(", "SET_CONFIG(", "PG_NOTIFY(")


def install_on_engine(engine: Engine) -> None:
    """The engine's half (PostgreSQL only): the liveness check at checkout, the start of a
    transaction before the first write, transactions on again at checkin."""
    if engine.dialect.name != "postgresql":
        return
    event.listen(engine, "checkout", check_alive)
    event.listen(engine, "before_cursor_execute", begin_before_writes)
    event.listen(engine, "checkin", transactions_again)


def install_on_sessions(factory: sessionmaker[Session]) -> None:
    """The sessions' half: a marked session's connection reads in autocommit."""
    event.listen(factory, "after_begin", _reads_in_autocommit)


def reads_outside_transactions(session: Session) -> None:
    """Mark ``session``: its reads run outside a transaction until its first write."""
    session.info[READS_OUTSIDE] = True


def check_alive(dbapi_connection: Any, _record: ConnectionPoolEntry,
                _proxy: PoolProxiedConnection) -> None:
    """Raise ``DisconnectionError`` (the pool then connects anew) for a connection the server
    closed or spoke on while it waited in the pool; no round trip."""
    if not _looks_alive(dbapi_connection):
        raise exc.DisconnectionError("PostgreSQL closed this connection while it was idle")


def _looks_alive(connection: psycopg.Connection[Any]) -> bool:
    if connection.closed or connection.broken:
        return False
    pgconn = connection.pgconn
    if pgconn.status != ConnStatus.OK or pgconn.transaction_status != TransactionStatus.IDLE:
        return False
    try:
        poller = select_module.poll()
        poller.register(pgconn.socket, select_module.POLLIN | select_module.POLLPRI)
        return not poller.poll(0)
    except (OSError, ValueError, psycopg.Error):
        return False


def _reads_in_autocommit(session: Session, _transaction: SessionTransaction,
                         connection: Connection) -> None:
    if not session.info.get(READS_OUTSIDE) or connection.dialect.name != "postgresql" \
            or "isolation_level" in connection.get_execution_options():
        return  # an isolation level asked for (a consistent snapshot) is kept as asked
    driver = connection.connection.driver_connection
    if driver is None or driver.autocommit \
            or driver.pgconn.transaction_status != TransactionStatus.IDLE:
        return
    driver.autocommit = True
    connection.info[AUTOCOMMITTED_READS] = True


@lru_cache(maxsize=4096)
def plain_read(statement: str) -> bool:
    """Whether ``statement`` only reads (the same compiled strings come back: kept)."""
    if statement.lstrip()[:6].upper() != "SELECT":
        return False
    upper = statement.upper()
    return not any(word in upper for word in _NOT_PLAIN)


def begin_before_writes(connection: Connection, _cursor: Any, statement: str, _parameters: Any,
                        _context: Any, _executemany: bool) -> None:
    if connection.info.get(AUTOCOMMITTED_READS) and not plain_read(statement):
        connection.info[AUTOCOMMITTED_READS] = False
        connection.connection.driver_connection.autocommit = False  # type: ignore[union-attr]


def transactions_again(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    """At checkin (after the pool's rollback): a connection left in autocommit gets its
    transactions back, or is closed if that cannot be done."""
    if not record.info.pop(AUTOCOMMITTED_READS, False):
        return
    try:
        dbapi_connection.autocommit = False
    except psycopg.Error:
        record.invalidate()
