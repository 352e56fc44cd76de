"""Versions of what each Secretaría's lists count, kept by the database.

On every view, the revision queue counted its Rutas by state (a join of the horizon's 10,000
Rutas with their schools: 7 to 11 ms at 10,000 schools), the plan adjustments waiting for
the Secretaría (4 to 6 ms) and the comunas of its filters (1 to 2 ms); every page of the
Secretaría counted the items of the menu's «Pendientes» badge (3 to 5 ms, most of it
planning a union of six statements); «Correo saliente» counted the Secretaría's 120,000
messages by status (20 ms). All of them change only when a few tables do.
``scope_versions`` holds two random tokens per Secretaría, ``lists`` and ``outbox``, that
triggers replace in the same transaction as each such change, so a process may keep what it
counted under the token it read (``workflow.scope_versions``) and ask only for the token on
later views.

The triggers and what each watches (inserts and deletes always; updates of the columns
named, or of every column). ``lists``:

- ``schools`` (every column): the Secretaría of the old and the new row;
- ``users`` (``secretaria_id``, ``school_id``, ``role``, ``active``, ``activated_at``): the
  same («sin rector(a)» in the badge);
- ``rutas`` (``school_id``, ``horizon_start_year``, ``state``, ``reviewer_id``): the
  Secretaría of the Ruta's school;
- ``plan_adjustments`` (every column), ``pmi_observations`` and ``follow_up_reports``
  (``ruta_id``, ``status``): through their Ruta;
- ``plan_adjustment_changes`` (``adjustment_id``): through its adjustment;
- ``follow_up_observations`` (``report_id``, ``status``): through its report.

``outbox``: ``outbox`` (``secretaria_id``, ``status``), apart so that delivering mail,
which changes a message's status, leaves the lists' counts kept.

On PostgreSQL they are constraint triggers deferred to the commit: the token's row is locked
only while the transaction commits, not from the change on (a reviewer's transition would
otherwise hold every other transition of the Secretaría while it wrote its history, mail and
aggregates), and once per transaction and Secretaría. A row whose Secretaría can no longer
be found (what it hangs from was deleted in the same transaction) replaces that kind of
token of every Secretaría; a TRUNCATE of any watched table replaces them all. On SQLite,
which has no deferred triggers and one writer at a time, they fire at once.

Revision ID: 0039
Revises: 0038
"""

import sqlalchemy as sa
from alembic import op

revision = '0039'
down_revision = '0038'
branch_labels = None
depends_on = None

# The tokens each Secretaría has: what its lists count (the revision queue, the «Pendientes»
# badge), and its outbox (the counts of «Correo saliente»).
KINDS = ('lists', 'outbox')

# Each watched table: the token it moves, how its rows lead to a Secretaría (the kind of the
# row a column references, the column) and the columns whose update matters (None: all).
WATCHED = {
    'schools': ('lists', 'secretaria', 'secretaria_id', None),
    'users': ('lists', 'secretaria', 'secretaria_id', ('secretaria_id', 'school_id', 'role',
                                                       'active', 'activated_at')),
    'rutas': ('lists', 'school', 'school_id', ('school_id', 'horizon_start_year', 'state',
                                               'reviewer_id')),
    'plan_adjustments': ('lists', 'ruta', 'ruta_id', None),
    'plan_adjustment_changes': ('lists', 'adjustment', 'adjustment_id', ('adjustment_id',)),
    'pmi_observations': ('lists', 'ruta', 'ruta_id', ('ruta_id', 'status')),
    'follow_up_reports': ('lists', 'ruta', 'ruta_id', ('ruta_id', 'status')),
    'follow_up_observations': ('lists', 'report', 'report_id', ('report_id', 'status')),
    'outbox': ('outbox', 'secretaria', 'secretaria_id', ('secretaria_id', 'status')),
}

# A new token: 32 random hexadecimal digits (an SQL expression, not a secret).
_PG_RANDOM_HEX = "replace(gen_random_uuid()::text, '-', '')"  # noqa: S105
_SQLITE_RANDOM_HEX = "lower(hex(randomblob(16)))"

_PG_BUMP = """
CREATE FUNCTION scope_version_bump(token_kind text, ref_kind text, ref integer)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    found integer;
    done text;
BEGIN
    IF ref IS NULL THEN
        RETURN;  -- a row tied to no Secretaría is in no Secretaría's lists
    ELSIF ref_kind = 'secretaria' THEN
        found := ref;
    ELSIF ref_kind = 'school' THEN
        SELECT s.secretaria_id INTO found FROM schools s WHERE s.id = ref;
    ELSIF ref_kind = 'ruta' THEN
        SELECT s.secretaria_id INTO found
        FROM rutas r JOIN schools s ON s.id = r.school_id WHERE r.id = ref;
    ELSIF ref_kind = 'adjustment' THEN
        SELECT s.secretaria_id INTO found
        FROM plan_adjustments a JOIN rutas r ON r.id = a.ruta_id
        JOIN schools s ON s.id = r.school_id WHERE a.id = ref;
    ELSIF ref_kind = 'report' THEN
        SELECT s.secretaria_id INTO found
        FROM follow_up_reports f JOIN rutas r ON r.id = f.ruta_id
        JOIN schools s ON s.id = r.school_id WHERE f.id = ref;
    ELSE
        RAISE EXCEPTION 'scope_version_bump: unknown kind %', ref_kind;
    END IF;
    IF found IS NULL THEN
        -- What the row hung from is gone: which Secretaría it was is unknown, so all of them.
        UPDATE scope_versions SET token = replace(gen_random_uuid()::text, '-', '')
        WHERE scope_versions.kind = token_kind;
        RETURN;
    END IF;
    -- Once per transaction is enough: its changes become visible together, at its commit,
    -- with the token (the daily pass writes thousands of reminders a transaction).
    done := 'ruta_scope_version.' || token_kind || '_' || found;
    IF current_setting(done, true) = 'si' THEN
        RETURN;
    END IF;
    PERFORM set_config(done, 'si', true);
    INSERT INTO scope_versions (secretaria_id, kind, token)
    VALUES (found, token_kind, replace(gen_random_uuid()::text, '-', ''))
    ON CONFLICT ON CONSTRAINT pk_scope_versions DO UPDATE SET token = excluded.token;
END
$$
"""

# One trigger function per referencing column (a row's fields are read by name).
REFERENCES = sorted({(kind, column) for _, kind, column, _ in WATCHED.values()})


def _pg_row_changed(column: str) -> str:
    return f"""
CREATE FUNCTION scope_version_by_{column}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM scope_version_bump(TG_ARGV[0], TG_ARGV[1], OLD.{column});
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.{column} IS DISTINCT FROM OLD.{column})
    THEN
        PERFORM scope_version_bump(TG_ARGV[0], TG_ARGV[1], NEW.{column});
    END IF;
    RETURN NULL;
END
$$
"""


_PG_TRUNCATED = """
CREATE FUNCTION scope_version_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE scope_versions SET token = replace(gen_random_uuid()::text, '-', '');
    RETURN NULL;
END
$$
"""

# On SQLite: the Secretaría of the row ``{row}`` (OLD or NEW), as a SELECT's FROM and WHERE.
_SQLITE_LOOKUP = {
    'secretaria': "secretarias WHERE id = {row}.secretaria_id",
    'school': "schools WHERE id = {row}.school_id",
    'ruta': "schools WHERE id = (SELECT school_id FROM rutas WHERE id = {row}.ruta_id)",
    'adjustment': ("schools WHERE id = (SELECT r.school_id FROM plan_adjustments a "
                   "JOIN rutas r ON r.id = a.ruta_id WHERE a.id = {row}.adjustment_id)"),
    'report': ("schools WHERE id = (SELECT r.school_id FROM follow_up_reports f "
               "JOIN rutas r ON r.id = f.ruta_id WHERE f.id = {row}.report_id)"),
}
_SQLITE_COLUMN = {'secretaria': 'id', 'school': 'secretaria_id', 'ruta': 'secretaria_id',
                  'adjustment': 'secretaria_id', 'report': 'secretaria_id'}


def _sqlite_bump(token_kind: str, kind: str, row: str) -> str:
    # Names from the constants above, never input.
    return (f"INSERT INTO scope_versions (secretaria_id, kind, token) "  # noqa: S608
            f"SELECT {_SQLITE_COLUMN[kind]}, '{token_kind}', {_SQLITE_RANDOM_HEX} "
            f"FROM {_SQLITE_LOOKUP[kind].format(row=row)} "
            f"ON CONFLICT (secretaria_id, kind) DO UPDATE SET token = excluded.token;")


def _sqlite_triggers() -> None:
    for table, (token_kind, kind, _, columns) in WATCHED.items():
        watched = f" OF {', '.join(columns)}" if columns else ""
        for event, rows in (('insert', ('NEW',)), ('update', ('OLD', 'NEW')),
                            ('delete', ('OLD',))):
            of = watched if event == 'update' else ""
            body = " ".join(_sqlite_bump(token_kind, kind, row) for row in rows)
            op.execute(f"CREATE TRIGGER {table}_scope_version_{event} "
                       f"AFTER {event.upper()}{of} ON {table} BEGIN {body} END")


def upgrade() -> None:
    op.create_table(
        'scope_versions',
        sa.Column('secretaria_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.CheckConstraint("kind IN ('lists', 'outbox')", name=op.f('ck_scope_versions_kind')),
        sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'],
                                name=op.f('fk_scope_versions_secretaria_id_secretarias')),
        sa.PrimaryKeyConstraint('secretaria_id', 'kind', name=op.f('pk_scope_versions')),
    )
    postgres = op.get_bind().dialect.name == 'postgresql'
    new_token = _PG_RANDOM_HEX if postgres else _SQLITE_RANDOM_HEX
    for kind in KINDS:
        op.execute(f"INSERT INTO scope_versions (secretaria_id, kind, token) "  # noqa: S608
                   f"SELECT id, '{kind}', {new_token} FROM secretarias")
    if not postgres:
        _sqlite_triggers()
        return
    op.execute(_PG_BUMP)
    for _, column in REFERENCES:
        op.execute(_pg_row_changed(column))
    op.execute(_PG_TRUNCATED)
    for table, (token_kind, kind, column, columns) in WATCHED.items():
        update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
        op.execute(f"""
            CREATE CONSTRAINT TRIGGER {table}_scope_version
            AFTER INSERT OR DELETE OR {update} ON {table}
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION scope_version_by_{column}('{token_kind}', '{kind}')
        """)
        op.execute(f"""
            CREATE TRIGGER {table}_scope_version_truncate
            AFTER TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION scope_version_truncated()
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_scope_version_truncate ON {table}")
            op.execute(f"DROP TRIGGER {table}_scope_version ON {table}")
        op.execute("DROP FUNCTION scope_version_truncated()")
        for _, column in REFERENCES:
            op.execute(f"DROP FUNCTION scope_version_by_{column}()")
        op.execute("DROP FUNCTION scope_version_bump(text, text, integer)")
    else:
        for table in WATCHED:
            for event in ('insert', 'update', 'delete'):
                op.execute(f"DROP TRIGGER {table}_scope_version_{event}")
    op.drop_table('scope_versions')
