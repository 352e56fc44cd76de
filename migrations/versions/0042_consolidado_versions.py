"""A token per Secretaría for what the consolidado (/reportes/) shows, kept by the database.

Drawing /reportes/ at 10,000 schools costs 80 ms and ten statements (a census of every school
with its aggregate, the lists of overdue and estancadas Rutas, a page of the table, the
Jinja of a 100 KB page), on every view, for figures that change only when a few tables do.
A third kind of token in ``scope_versions``, ``consolidado``, is replaced in the same
transaction as each such change (as migration 0039's ``lists`` and ``outbox``), so a process
may keep the page's drawn body under the token it read (``workflow.consolidado.page_memo``).

What it watches (inserts, updates and deletes of every column unless said otherwise), each
row leading to its Secretaría:

- ``ruta_aggregates``, ``ruta_section_counts``, ``section_sums``: the page's figures;
- ``rutas`` (inserts, deletes, ``school_id``, ``horizon_start_year``): a Ruta without its
  aggregate yet is counted as missing;
- ``schools``: names, zonas, comunas, active, the Secretaría they belong to;
- ``secretarias`` (its own row, but not ``page_stamp``, which other triggers move): the current
  horizon and its length;
- ``calendars`` (the horizons, their deadline and instrument), ``instrument_settings`` (the
  current instrument, for a horizon without its own), ``catalogs`` (a national catalog, with
  no Secretaría, replaces every Secretaría's token);
- ``final_evaluations``: the lessons of the final results are read from them;
- ``reminders_sent`` (updates and deletes only): a school's latest reminder is read by the id
  its aggregate holds; a new reminder is on the page only through its Ruta's aggregate.

On PostgreSQL they are constraint triggers deferred to the commit, once per transaction and
Secretaría (migration 0039's ``scope_version_bump``); a TRUNCATE replaces every token. On
SQLite they fire at once. The table's CHECK on ``kind`` gains the new kind (on SQLite the
table is copied: the triggers of 0039 name it, hence ``legacy_alter_table`` for the rename).

Revision ID: 0042
Revises: 0041
"""

# ruff: noqa: S608 (every name put in SQL here is one of this file's constants)
from alembic import op

revision = '0042'
down_revision = '0041'
branch_labels = None
depends_on = None

KIND = 'consolidado'
OLD_KINDS = ('lists', 'outbox')

# table: (how its rows lead to a Secretaría, the column, the columns whose update matters
# (None: all), the events watched).
EVERY = ('INSERT', 'UPDATE', 'DELETE')
WATCHED = {
    'ruta_aggregates': ('secretaria', 'secretaria_id', None, EVERY),
    'ruta_section_counts': ('secretaria', 'secretaria_id', None, EVERY),
    'section_sums': ('secretaria', 'secretaria_id', None, EVERY),
    'rutas': ('school', 'school_id', ('school_id', 'horizon_start_year'), EVERY),
    'schools': ('secretaria', 'secretaria_id', None, EVERY),
    'secretarias': ('secretaria', 'id', ('name', 'divipola', 'horizon_start_year',
                                         'horizon_years'), EVERY),
    'calendars': ('secretaria', 'secretaria_id', None, EVERY),
    'instrument_settings': ('secretaria', 'secretaria_id', None, EVERY),
    'catalogs': ('secretaria', 'secretaria_id', None, EVERY),
    'final_evaluations': ('ruta', 'ruta_id', None, EVERY),
    'reminders_sent': ('ruta', 'ruta_id', None, ('UPDATE', 'DELETE')),
}
# Rows whose NULL Secretaría means every Secretaría (a national catalog).
NATIONAL = frozenset({'catalogs'})

_PG_RANDOM_HEX = "replace(gen_random_uuid()::text, '-', '')"
_SQLITE_RANDOM_HEX = "lower(hex(randomblob(16)))"


def _pg_function(table: str, column: str) -> str:
    # A NULL reference is a row of no Secretaría (``scope_version_bump`` ignores it), except
    # for a national catalog, which every Secretaría may be using.
    national = table in NATIONAL
    old_null = (f"IF OLD.{column} IS NULL THEN PERFORM consolidado_version_all(); END IF;"
                if national else "")
    new_null = (f"IF NEW.{column} IS NULL THEN PERFORM consolidado_version_all(); END IF;"
                if national else "")
    return f"""
CREATE FUNCTION consolidado_version_{table}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        {old_null}
        PERFORM scope_version_bump('{KIND}', TG_ARGV[0], OLD.{column});
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.{column} IS DISTINCT FROM OLD.{column})
    THEN
        {new_null}
        PERFORM scope_version_bump('{KIND}', TG_ARGV[0], NEW.{column});
    END IF;
    RETURN NULL;
END
$$
"""


_PG_ALL = f"""
CREATE FUNCTION consolidado_version_all() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE scope_versions SET token = {_PG_RANDOM_HEX} WHERE kind = '{KIND}';
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


def _sqlite_bump(table: str, kind: str, column: str, row: str) -> str:
    lookup = _SQLITE_LOOKUP[kind].format(row=row, column=column)
    bump = (f"INSERT INTO scope_versions (secretaria_id, kind, token) "
            f"SELECT {_SQLITE_COLUMN[kind]}, '{KIND}', {_SQLITE_RANDOM_HEX} FROM {lookup} "
            f"ON CONFLICT (secretaria_id, kind) DO UPDATE SET token = excluded.token;")
    if table in NATIONAL:
        bump += (f" UPDATE scope_versions SET token = {_SQLITE_RANDOM_HEX} "
                 f"WHERE kind = '{KIND}' AND {row}.{column} IS NULL;")
    return bump


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
    # The triggers of migration 0039 name scope_versions: a modern rename would refuse to
    # leave them pointing at a table that is, for a moment, gone.
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
            body = " ".join(_sqlite_bump(table, kind, column, row) for row in rows)
            op.execute(f"CREATE TRIGGER {table}_consolidado_version_{event.lower()} "
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
    op.execute(_PG_ALL)
    for table, (kind, column, columns, events) in WATCHED.items():
        op.execute(_pg_function(table, column))
        if 'UPDATE' in events and columns:
            events = tuple(f"UPDATE OF {', '.join(columns)}" if event == 'UPDATE' else event
                           for event in events)
        op.execute(f"""
            CREATE CONSTRAINT TRIGGER {table}_consolidado_version
            AFTER {' OR '.join(events)} ON {table}
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION consolidado_version_{table}('{kind}')
        """)
        op.execute(f"""
            CREATE TRIGGER {table}_consolidado_version_truncate
            AFTER TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION scope_version_truncated()
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_consolidado_version_truncate ON {table}")
            op.execute(f"DROP TRIGGER {table}_consolidado_version ON {table}")
            op.execute(f"DROP FUNCTION consolidado_version_{table}()")
        op.execute("DROP FUNCTION consolidado_version_all()")
        op.execute(f"DELETE FROM scope_versions WHERE kind = '{KIND}'")
        op.execute("ALTER TABLE scope_versions DROP CONSTRAINT ck_scope_versions_kind")
        op.execute("ALTER TABLE scope_versions ADD CONSTRAINT ck_scope_versions_kind "
                   f"CHECK ({_check(OLD_KINDS)})")
        return
    for table, (_, _, _, events) in WATCHED.items():
        for event in events:
            op.execute(f"DROP TRIGGER {table}_consolidado_version_{event.lower()}")
    _sqlite_recreate(OLD_KINDS)

