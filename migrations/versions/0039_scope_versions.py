"""A version of what each Secretaría's lists count, kept by the database.

On every view, the revision queue counted its Rutas by state (a join of the horizon's 10,000
Rutas with their schools: 7 to 11 ms at 10,000 schools), the plan adjustments waiting for
the Secretaría (4 to 6 ms) and the comunas of its filters (1 to 2 ms), and every page of the
Secretaría counted the items of the menu's «Pendientes» badge (3 to 5 ms, most of it
planning a union of six statements), although all of them change only when a few tables
do. ``scope_versions`` holds a random token per Secretaría that triggers replace in the same
transaction as each such change, so a process may keep what it counted under the token it
read (``workflow.scope_versions``) and ask only for the token on later views.

The triggers and what each watches (inserts and deletes always; updates of the columns
named, or of every column):

- ``schools`` (every column): the Secretaría of the old and the new row;
- ``users`` (``secretaria_id``, ``school_id``, ``role``, ``active``, ``activated_at``): the
  same («sin rector(a)» in the badge);
- ``rutas`` (``school_id``, ``horizon_start_year``, ``state``, ``reviewer_id``): the
  Secretaría of the Ruta's school;
- ``plan_adjustments`` (every column), ``pmi_observations`` and ``follow_up_reports``
  (``ruta_id``, ``status``): through their Ruta;
- ``plan_adjustment_changes`` (``adjustment_id``): through its adjustment;
- ``follow_up_observations`` (``report_id``, ``status``): through its report.

On PostgreSQL they are constraint triggers deferred to the commit: the token's row is locked
only while the transaction commits, not from the change on (a reviewer's transition would
otherwise hold every other transition of the Secretaría while it wrote its history, mail and
aggregates). A row whose Secretaría can no longer be found (what it hangs from was deleted
in the same transaction) replaces every token; so does a TRUNCATE of any watched table.
On SQLite, which has no deferred triggers and one writer at a time, they fire at once.

Revision ID: 0039
Revises: 0037
"""

import sqlalchemy as sa
from alembic import op

revision = '0039'
down_revision = '0037'
branch_labels = None
depends_on = None

# Each watched table: how its rows lead to a Secretaría (the kind of the referenced row, the
# column that references it) and the columns whose update matters (None: every column).
WATCHED = {
    'schools': ('secretaria', 'secretaria_id', None),
    'users': ('secretaria', 'secretaria_id', ('secretaria_id', 'school_id', 'role', 'active',
                                              'activated_at')),
    'rutas': ('school', 'school_id', ('school_id', 'horizon_start_year', 'state',
                                      'reviewer_id')),
    'plan_adjustments': ('ruta', 'ruta_id', None),
    'plan_adjustment_changes': ('adjustment', 'adjustment_id', ('adjustment_id',)),
    'pmi_observations': ('ruta', 'ruta_id', ('ruta_id', 'status')),
    'follow_up_reports': ('ruta', 'ruta_id', ('ruta_id', 'status')),
    'follow_up_observations': ('report', 'report_id', ('report_id', 'status')),
}

_PG_BUMP = """
CREATE FUNCTION scope_version_bump(kind text, ref integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    found integer;
BEGIN
    IF ref IS NULL THEN
        RETURN;  -- a row tied to no Secretaría is in no Secretaría's lists
    ELSIF kind = 'secretaria' THEN
        found := ref;
    ELSIF kind = 'school' THEN
        SELECT s.secretaria_id INTO found FROM schools s WHERE s.id = ref;
    ELSIF kind = 'ruta' THEN
        SELECT s.secretaria_id INTO found
        FROM rutas r JOIN schools s ON s.id = r.school_id WHERE r.id = ref;
    ELSIF kind = 'adjustment' THEN
        SELECT s.secretaria_id INTO found
        FROM plan_adjustments a JOIN rutas r ON r.id = a.ruta_id
        JOIN schools s ON s.id = r.school_id WHERE a.id = ref;
    ELSIF kind = 'report' THEN
        SELECT s.secretaria_id INTO found
        FROM follow_up_reports f JOIN rutas r ON r.id = f.ruta_id
        JOIN schools s ON s.id = r.school_id WHERE f.id = ref;
    ELSE
        RAISE EXCEPTION 'scope_version_bump: unknown kind %', kind;
    END IF;
    IF found IS NULL THEN
        -- What the row hung from is gone: which Secretaría it was is unknown, so all of them.
        UPDATE scope_versions SET token = replace(gen_random_uuid()::text, '-', '');
    ELSE
        INSERT INTO scope_versions (secretaria_id, token)
        VALUES (found, replace(gen_random_uuid()::text, '-', ''))
        ON CONFLICT (secretaria_id) DO UPDATE SET token = excluded.token;
    END IF;
END
$$
"""

_PG_ROW_CHANGED = """
CREATE FUNCTION scope_version_row_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_ref integer;
    new_ref integer;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_ref := (to_jsonb(OLD) ->> TG_ARGV[1])::integer;
        PERFORM scope_version_bump(TG_ARGV[0], old_ref);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_ref := (to_jsonb(NEW) ->> TG_ARGV[1])::integer;
        IF TG_OP = 'INSERT' OR new_ref IS DISTINCT FROM old_ref THEN
            PERFORM scope_version_bump(TG_ARGV[0], new_ref);
        END IF;
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


def _sqlite_bump(kind: str, row: str) -> str:
    # Names from the constants above, never input.
    return (f"INSERT INTO scope_versions (secretaria_id, token) "  # noqa: S608
            f"SELECT {_SQLITE_COLUMN[kind]}, lower(hex(randomblob(16))) "
            f"FROM {_SQLITE_LOOKUP[kind].format(row=row)} "
            f"ON CONFLICT (secretaria_id) DO UPDATE SET token = excluded.token;")


def _sqlite_triggers() -> None:
    for table, (kind, _, columns) in WATCHED.items():
        watched = f" OF {', '.join(columns)}" if columns else ""
        for event, rows in (('insert', ('NEW',)), ('update', ('OLD', 'NEW')),
                            ('delete', ('OLD',))):
            of = watched if event == 'update' else ""
            body = " ".join(_sqlite_bump(kind, row) for row in rows)
            op.execute(f"CREATE TRIGGER {table}_scope_version_{event} "
                       f"AFTER {event.upper()}{of} ON {table} BEGIN {body} END")


def upgrade() -> None:
    op.create_table(
        'scope_versions',
        sa.Column('secretaria_id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'],
                                name=op.f('fk_scope_versions_secretaria_id_secretarias')),
        sa.PrimaryKeyConstraint('secretaria_id', name=op.f('pk_scope_versions')),
    )
    if op.get_bind().dialect.name != 'postgresql':
        op.execute("INSERT INTO scope_versions (secretaria_id, token) "
                   "SELECT id, lower(hex(randomblob(16))) FROM secretarias")
        _sqlite_triggers()
        return
    op.execute("INSERT INTO scope_versions (secretaria_id, token) "
               "SELECT id, replace(gen_random_uuid()::text, '-', '') FROM secretarias")
    op.execute(_PG_BUMP)
    op.execute(_PG_ROW_CHANGED)
    op.execute(_PG_TRUNCATED)
    for table, (kind, column, columns) in WATCHED.items():
        update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
        op.execute(f"""
            CREATE CONSTRAINT TRIGGER {table}_scope_version
            AFTER INSERT OR DELETE OR {update} ON {table}
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION scope_version_row_changed('{kind}', '{column}')
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
        op.execute("DROP FUNCTION scope_version_row_changed()")
        op.execute("DROP FUNCTION scope_version_bump(text, integer)")
    else:
        for table in WATCHED:
            for event in ('insert', 'update', 'delete'):
                op.execute(f"DROP TRIGGER {table}_scope_version_{event}")
    op.drop_table('scope_versions')
