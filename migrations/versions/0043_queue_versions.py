"""A token per Secretaría for what the revision queue (/revision/) shows, kept by the database.

Drawing the queue costs some 11 ms of Python per view at 10,000 schools (the horizons read as
objects, a large statement built and compiled, the Jinja of 20 rows), on every view, for a
page that changes only when a few tables do. A fourth kind of token in ``scope_versions``,
``queue``, is replaced in the same transaction as each such change (as migration 0042's
``consolidado``), so a process may keep the page's drawn body under the token it read
(``blueprints.revision``). It is named after the page (the queue), not ``revision``: that word
is already Alembic's (this module's ``revision``) and the PMI review page's
(/rutas/<id>/pmi/revision), which this token does not watch.

What it watches, each row leading to its Secretaría:

- ``rutas``: inserts, deletes, and the columns the queue shows, filters or sorts on
  (``school_id``, ``horizon_start_year``, ``horizon_end_year``, ``state``,
  ``state_changed_at``, ``reviewer_id``); not ``page_stamp`` or ``version``, which every edit
  of a Ruta's autoevaluación or plan moves;
- ``schools`` (every column): names, DANE codes, zonas, comunas, search and sort keys;
- ``users``: inserts, deletes, ``name`` (a Ruta's reviewer) and ``secretaria_id``; not the
  sign-in's bookkeeping (``last_login_at``, passwords): a sign-in leaves the queue kept;
- ``secretarias`` (inserts, ``horizon_start_year``, ``horizon_years``): the current horizon;
- ``calendars`` (inserts, deletes, ``secretaria_id``, ``horizon_start_year``,
  ``horizon_end_year``): the horizons the page offers, not their deadlines;
- ``reminders_sent`` (updates and deletes only): each Ruta's latest reminder.

Not inserts into ``reminders_sent`` or ``ruta_transitions``: the daily pass records some 9,000
reminders at once, and a row trigger there would cost it 0.1–0.2 s. The queue's key holds the
largest id of each of those tables instead (read with the token: ``scope_versions.Version``),
so a new reminder or transition anywhere draws the page again. ``ruta_transitions`` refuses
updates and deletes (migration 0001): it needs no trigger at all.

On PostgreSQL they are constraint triggers deferred to the commit, once per transaction and
Secretaría (migration 0039's ``scope_version_bump``); a TRUNCATE replaces every token. On
SQLite they fire at once. The table's CHECK on ``kind`` gains the new kind (on SQLite the
table is copied, as in 0042).

Revision ID: 0043
Revises: 0042
"""

# ruff: noqa: S608 (every name put in SQL here is one of this file's constants)
from alembic import op

revision = '0043'
down_revision = '0042'
branch_labels = None
depends_on = None

KIND = 'queue'
OLD_KINDS = ('lists', 'outbox', 'consolidado')

# table: (how its rows lead to a Secretaría, the column, the columns whose update matters
# (None: all), the events watched).
EVERY = ('INSERT', 'UPDATE', 'DELETE')
WATCHED = {
    'rutas': ('school', 'school_id', ('school_id', 'horizon_start_year', 'horizon_end_year',
                                      'state', 'state_changed_at', 'reviewer_id'), EVERY),
    'schools': ('secretaria', 'secretaria_id', None, EVERY),
    'users': ('secretaria', 'secretaria_id', ('secretaria_id', 'name'), EVERY),
    # Not deletes: a Secretaría's token row goes with it.
    'secretarias': ('secretaria', 'id', ('horizon_start_year', 'horizon_years'),
                    ('INSERT', 'UPDATE')),
    'calendars': ('secretaria', 'secretaria_id', ('secretaria_id', 'horizon_start_year',
                                                  'horizon_end_year'), EVERY),
    'reminders_sent': ('ruta', 'ruta_id', None, ('UPDATE', 'DELETE')),
}

_PG_RANDOM_HEX = "replace(gen_random_uuid()::text, '-', '')"
_SQLITE_RANDOM_HEX = "lower(hex(randomblob(16)))"


def _pg_function(table: str, column: str) -> str:
    return f"""
CREATE FUNCTION queue_version_{table}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM scope_version_bump('{KIND}', TG_ARGV[0], OLD.{column});
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.{column} IS DISTINCT FROM OLD.{column})
    THEN
        PERFORM scope_version_bump('{KIND}', TG_ARGV[0], NEW.{column});
    END IF;
    RETURN NULL;
END
$$
"""


# On SQLite: the Secretaría of the row ``{row}`` (OLD or NEW), as a SELECT's FROM and WHERE.
_SQLITE_LOOKUP = {
    'secretaria': "secretarias WHERE id = {row}.{column}",
    'school': "schools WHERE id = {row}.{column}",
    'ruta': "schools WHERE id = (SELECT school_id FROM rutas WHERE id = {row}.{column})",
}
_SQLITE_COLUMN = {'secretaria': 'id', 'school': 'secretaria_id', 'ruta': 'secretaria_id'}


def _sqlite_bump(kind: str, column: str, row: str) -> str:
    lookup = _SQLITE_LOOKUP[kind].format(row=row, column=column)
    return (f"INSERT INTO scope_versions (secretaria_id, kind, token) "
            f"SELECT {_SQLITE_COLUMN[kind]}, '{KIND}', {_SQLITE_RANDOM_HEX} FROM {lookup} "
            f"ON CONFLICT (secretaria_id, kind) DO UPDATE SET token = excluded.token;")


def _check(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def _sqlite_recreate(kinds: tuple[str, ...]) -> None:
    """scope_versions again with ``kinds`` in its CHECK (SQLite cannot alter a CHECK)."""
    op.execute(f"""
        CREATE TABLE scope_versions_new (
            secretaria_id INTEGER NOT NULL,
            kind VARCHAR(16) NOT NULL,
            token VARCHAR(32) NOT NULL,
            CONSTRAINT pk_scope_versions PRIMARY KEY (secretaria_id, kind),
            CONSTRAINT ck_scope_versions_kind CHECK ({_check(kinds)}),
            CONSTRAINT fk_scope_versions_secretaria_id_secretarias
                FOREIGN KEY(secretaria_id) REFERENCES secretarias (id)
        )""")
    op.execute("INSERT INTO scope_versions_new (secretaria_id, kind, token) "
               "SELECT secretaria_id, kind, token FROM scope_versions "
               f"WHERE {_check(kinds)}")
    # The triggers of migrations 0039, 0042 and this one name scope_versions: a modern
    # rename would refuse to leave them pointing at a table that is, for a moment, gone.
    op.execute("PRAGMA legacy_alter_table = ON")
    op.execute("DROP TABLE scope_versions")
    op.execute("ALTER TABLE scope_versions_new RENAME TO scope_versions")
    op.execute("PRAGMA legacy_alter_table = OFF")


def _sqlite_triggers() -> None:
    for table, (kind, column, columns, events) in WATCHED.items():
        watched = f" OF {', '.join(columns)}" if columns else ""
        for event in events:
            rows = {'INSERT': ('NEW',), 'UPDATE': ('OLD', 'NEW'), 'DELETE': ('OLD',)}[event]
            of = watched if event == 'UPDATE' else ""
            body = " ".join(_sqlite_bump(kind, column, row) for row in rows)
            op.execute(f"CREATE TRIGGER {table}_queue_version_{event.lower()} "
                       f"AFTER {event}{of} ON {table} BEGIN {body} END")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        op.execute("ALTER TABLE scope_versions DROP CONSTRAINT ck_scope_versions_kind")
        op.execute("ALTER TABLE scope_versions ADD CONSTRAINT ck_scope_versions_kind "
                   f"CHECK ({_check((*OLD_KINDS, KIND))})")
    else:
        _sqlite_recreate((*OLD_KINDS, KIND))
    op.execute(f"INSERT INTO scope_versions (secretaria_id, kind, token) "
               f"SELECT id, '{KIND}', {_PG_RANDOM_HEX if postgres else _SQLITE_RANDOM_HEX} "
               f"FROM secretarias")
    if not postgres:
        _sqlite_triggers()
        return
    for table, (kind, column, columns, events) in WATCHED.items():
        op.execute(_pg_function(table, column))
        if 'UPDATE' in events and columns:
            events = tuple(f"UPDATE OF {', '.join(columns)}" if event == 'UPDATE' else event
                           for event in events)
        op.execute(f"""
            CREATE CONSTRAINT TRIGGER {table}_queue_version
            AFTER {' OR '.join(events)} ON {table}
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION queue_version_{table}('{kind}')
        """)
        op.execute(f"""
            CREATE TRIGGER {table}_queue_version_truncate
            AFTER TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION scope_version_truncated()
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_queue_version_truncate ON {table}")
            op.execute(f"DROP TRIGGER {table}_queue_version ON {table}")
            op.execute(f"DROP FUNCTION queue_version_{table}()")
        op.execute(f"DELETE FROM scope_versions WHERE kind = '{KIND}'")
        op.execute("ALTER TABLE scope_versions DROP CONSTRAINT ck_scope_versions_kind")
        op.execute("ALTER TABLE scope_versions ADD CONSTRAINT ck_scope_versions_kind "
                   f"CHECK ({_check(OLD_KINDS)})")
        return
    for table, (_, _, _, events) in WATCHED.items():
        for event in events:
            op.execute(f"DROP TRIGGER {table}_queue_version_{event.lower()}")
    _sqlite_recreate(OLD_KINDS)
