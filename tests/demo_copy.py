"""The demo Secretaría (``demo.seed``, ten schools) in a test's database, seeded once per test
process and database and copied back after that.

Seeding it through the services took 5–8 s alone and 20–40 s beside the other CI worker, for
each of some thirty tests (the kept pages' tests, the consolidado's sums). So each test
process seeds it once per database and keeps a copy of what that left (SQLite: a copy of the
file; PostgreSQL: a copy of every table and sequence in a schema of its own); later tests
get the copy back, as the seeding left it, written with the triggers off (the copy holds what
they wrote)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from demo.seed import seed_demo
from tests.conftest import PASSWORD, TEST_PASSWORDS, forget_what_the_process_keeps
from workflow.models import Secretaria

DEMO_SCHOOLS = 10
#: The databases (by URL) whose demo copy this process made: a copy left by an earlier run
#: (a PostgreSQL schema outlives the process) is never trusted.
_COPIED: set[str] = set()

#: Copy every table of ``public`` but Alembic's, and every sequence's position, into a schema
#: beside it (each test worker has its own database).
_COPY_POSTGRES = """
DO $$
DECLARE
    name text;
    position bigint;
    called boolean;
BEGIN
    DROP SCHEMA IF EXISTS demo_snapshot CASCADE;
    CREATE SCHEMA demo_snapshot;
    CREATE TABLE demo_snapshot._sequences (name text, position bigint, called boolean);
    FOR name IN SELECT tablename FROM pg_tables
                WHERE schemaname = 'public' AND tablename <> 'alembic_version' LOOP
        EXECUTE format('CREATE TABLE demo_snapshot.%I AS TABLE public.%I', name, name);
    END LOOP;
    FOR name IN SELECT relname FROM pg_class
                WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace LOOP
        EXECUTE format('SELECT last_value, is_called FROM public.%I', name)
            INTO position, called;
        INSERT INTO demo_snapshot._sequences VALUES (name, position, called);
    END LOOP;
END
$$
"""

#: Empty ``public`` and fill it from the copy, with no trigger firing (the copy holds what
#: they wrote), then put every sequence back where it was.
_RESTORE_POSTGRES = """
DO $$
DECLARE
    name text;
BEGIN
    PERFORM set_config('session_replication_role', 'replica', true);
    FOR name IN SELECT tablename FROM pg_tables
                WHERE schemaname = 'public' AND tablename <> 'alembic_version' LOOP
        EXECUTE format('DELETE FROM public.%I', name);
        EXECUTE format('INSERT INTO public.%I SELECT * FROM demo_snapshot.%I', name, name);
    END LOOP;
    PERFORM setval(format('public.%I', s.name), s.position, s.called)
    FROM demo_snapshot._sequences AS s;
END
$$
"""


def _sqlite_copy(database: str) -> Path:
    return Path(database).with_name(f"demo-{DEMO_SCHOOLS}.db")


def _copy_sqlite(source: Path, target: Path) -> None:
    """The whole database, WAL included, through SQLite's online backup."""
    with closing(sqlite3.connect(source)) as reading, \
            closing(sqlite3.connect(target)) as writing:
        reading.backup(writing)


def load_demo(db: Session) -> Secretaria:
    """The demo Secretaría of ``DEMO_SCHOOLS`` schools in the test's (empty) database, seeded
    through the services the first time in this process and copied back after that."""
    db.commit()
    url = db.get_bind().url
    postgres = url.get_backend_name() == "postgresql"
    key = url.render_as_string(hide_password=False)
    if key not in _COPIED:
        seed_demo(db, school_count=DEMO_SCHOOLS, password=PASSWORD, passwords=TEST_PASSWORDS)
        db.commit()
        if postgres:
            db.execute(text(_COPY_POSTGRES))
            db.commit()
        else:
            assert url.database is not None
            _copy_sqlite(Path(url.database), _sqlite_copy(url.database))
        _COPIED.add(key)
    else:
        if postgres:
            db.execute(text(_RESTORE_POSTGRES))
            db.commit()
        else:
            assert url.database is not None
            _copy_sqlite(_sqlite_copy(url.database), Path(url.database))
        db.expire_all()
        forget_what_the_process_keeps()
    return db.scalars(select(Secretaria).order_by(Secretaria.id)).one()
