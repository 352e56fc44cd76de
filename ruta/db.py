"""The database engine and the request-scoped session of each app."""

from __future__ import annotations

from typing import Any

import psycopg
from flask import Flask, current_app, request
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from ruta import pg_round_trips, read_memo


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=15000")
            if ":memory:" not in url:
                # Readers do not block the writer (web process and scheduler share the file).
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No ``pool_pre_ping``: ``pg_round_trips.check_alive`` finds a closed connection at
    # checkout without a round trip.
    engine = create_engine(url, **kwargs)
    pg_round_trips.install_on_engine(engine)
    return engine


class Database:
    """Engine plus a thread-scoped session removed at the end of every request."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.session = scoped_session(self.session_factory)
        read_memo.install(self.session_factory)
        pg_round_trips.install_on_sessions(self.session_factory)

    def init_app(self, app: Flask) -> None:
        app.extensions["ruta_db"] = self

        @app.before_request
        def _memoize_reads() -> None:
            # A GET or HEAD writes nothing: its identical reads are answered once, outside a
            # transaction until a write.
            if request.method in ("GET", "HEAD"):
                session = self.session()
                read_memo.enable(session)
                pg_round_trips.reads_outside_transactions(session)

        @app.teardown_appcontext
        def _remove_session(exc: BaseException | None) -> None:
            try:
                if exc is None and self.session.registry.has():
                    commit_if_read_only(self.session())
            finally:
                self.session.remove()

    def dispose(self) -> None:
        self.session.remove()
        self.engine.dispose()


def commit_if_read_only(session: Session) -> None:
    """End the session's transaction with COMMIT if it wrote nothing (on PostgreSQL).

    For the database a COMMIT of a transaction that wrote nothing is a ROLLBACK. psycopg,
    though, forgets every statement it prepared on each rollback (it cannot tell whether
    the transaction dropped what they use), and every request ended with one: no statement
    was ever prepared, each was parsed and planned again on every view (at 10,000 schools
    more than half of the PostgreSQL time of the PMI review page, the layout's own
    statement twice its time). PostgreSQL says whether the transaction wrote: it gives it
    an id at its first write (or row lock). Changes the ORM holds but never sent are
    dropped by the session's close, as always; a transaction in error is left to it."""
    if not session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return
    driver = session.connection().connection.driver_connection
    if driver is None or driver.info.transaction_status != TransactionStatus.INTRANS:
        return
    try:
        row = driver.execute("SELECT pg_current_xact_id_if_assigned() IS NULL").fetchone()
        if row is not None and row[0]:
            driver.commit()
    except psycopg.Error:
        return  # the close rolls back, as before


def get_db() -> Database:
    return current_app.extensions["ruta_db"]  # type: ignore[no-any-return]


def db_session() -> Session:
    """The current request's (or CLI command's) session."""
    return get_db().session()
