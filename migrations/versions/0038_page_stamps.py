"""Page stamps: a counter on each Ruta and each Secretaría that moves whenever anything the
Ruta page shows of them is written, by any code path.

The Ruta page keeps its rendered body per process, keyed by these two counters, the day and
the viewer (``workflow.page_stamps``). A key is only as good as its completeness, so the
counters are moved by the database itself, not by the services: triggers on every table whose
rows the page draws, which also see bulk ``insert()``/``update()`` statements, the scheduler's
passes and the command line.

- ``rutas.page_stamp`` moves when the Ruta's row changes, and when a row of its own is
  inserted, updated or deleted: every table with a ``ruta_id`` the page reads, and the tables
  below them (a hallazgo's componentes, a report's lines, an adjustment's changes...).
- ``secretarias.page_stamp`` moves when the Secretaría's row changes, and when one of its
  schools, users (except their password and last sign-in), calendars and their checkpoints
  and institutional weeks, rule sets, instrument settings or catalogs is written. These are
  written rarely, and each one is on many Rutas' pages (a revisor's name, a calendar's dates).
  A national catalog (no Secretaría) moves every Secretaría's counter.

PostgreSQL runs one statement-level trigger per statement (with its transition table), so a
bulk insert of 9,000 reminders moves each of their Rutas once, in one UPDATE, locking the
Rutas in id order as the rest of the code does. SQLite, for a single school or the demo, runs
them row by row.

Revision ID: 0038
Revises: 0037
"""

# ruff: noqa: S608 (every name put in SQL here is one of this file's constants)
import sqlalchemy as sa
from alembic import op

revision = '0038'
down_revision = '0037'
branch_labels = None
depends_on = None

# Tables with their own ``ruta_id``, as the Ruta page reads them.
RUTA_TABLES = (
    'evidence_files', 'final_evaluations', 'final_indicator_results', 'final_meta_results',
    'follow_up_reports', 'identity_reviews', 'plan_adjustment_events', 'plan_adjustments',
    'pmi_actividades', 'pmi_aplazamientos', 'pmi_deletions', 'pmi_hallazgos',
    'pmi_indicadores', 'pmi_metas', 'pmi_objetivos', 'pmi_observations', 'pmi_plans',
    'pmi_rubric_verdicts', 'pmi_snapshots', 'priorizaciones', 'reminders_sent',
    'ruta_takeovers', 'ruta_transitions', 'self_assessment_extensions', 'team_members',
    'valoraciones',
)
# Tables below those: (table, its column, the table with the ruta_id it points to).
RUTA_CHILD_TABLES = (
    ('follow_up_indicator_values', 'report_id', 'follow_up_reports'),
    ('follow_up_lines', 'report_id', 'follow_up_reports'),
    ('follow_up_observations', 'report_id', 'follow_up_reports'),
    ('plan_adjustment_changes', 'adjustment_id', 'plan_adjustments'),
    ('pmi_hallazgo_componentes', 'hallazgo_id', 'pmi_hallazgos'),
    ('pmi_objetivo_componentes', 'objetivo_id', 'pmi_objetivos'),
    ('pmi_objetivo_hallazgos', 'objetivo_id', 'pmi_objetivos'),
    ('team_member_areas', 'member_id', 'team_members'),
)
# Tables with their own ``secretaria_id`` (NULL in catalogs: a national one).
SECRETARIA_TABLES = ('calendars', 'catalogs', 'instrument_settings', 'rule_sets', 'schools',
                     'users')
SECRETARIA_CHILD_TABLES = (
    ('follow_up_checkpoints', 'calendar_id', 'calendars'),
    ('institutional_weeks', 'calendar_id', 'calendars'),
)
# What a user's row may change without anything a page shows changing.
USER_PRIVATE_COLUMNS = ('password_hash', 'must_change_password', 'password_changed_at',
                        'last_login_at')
OWNERS = {'rutas': 'ruta_id', 'secretarias': 'secretaria_id'}
EVENTS = ('INSERT', 'UPDATE', 'DELETE')


def _triggered() -> list[tuple[str, str, str, str | None]]:
    """(table, owner table, column, parent table or None) for every stamped table."""
    return ([(table, 'rutas', 'ruta_id', None) for table in RUTA_TABLES]
            + [(table, 'rutas', column, parent) for table, column, parent in RUTA_CHILD_TABLES]
            + [(table, 'secretarias', 'secretaria_id', None) for table in SECRETARIA_TABLES]
            + [(table, 'secretarias', column, parent)
               for table, column, parent in SECRETARIA_CHILD_TABLES])


# --- PostgreSQL: one trigger per statement ------------------------------------------------


def _owner_ids(rows: str, owner: str, column: str, parent: str | None) -> str:
    """The ids of the owners (Rutas or Secretarías) of ``rows`` (a transition table)."""
    if parent is not None:
        return (f"SELECT p.{OWNERS[owner]} FROM {parent} p "
                f"WHERE p.id IN (SELECT {column} FROM {rows})")
    if owner == 'secretarias':
        # A national catalog (no Secretaría) is every Secretaría's.
        return (f"SELECT {column} FROM {rows} UNION "
                f"SELECT id FROM secretarias WHERE EXISTS "
                f"(SELECT 1 FROM {rows} WHERE {column} IS NULL)")
    return f"SELECT {column} FROM {rows}"


def _bump(owner: str, ids: str) -> str:
    return (f"UPDATE {owner} SET page_stamp = page_stamp + 1 WHERE id IN ("
            f"SELECT id FROM {owner} WHERE id IN ({ids}) ORDER BY id FOR UPDATE);")


def _postgresql_upgrade() -> None:
    for owner in OWNERS:
        # The owner's own row: any change moves its counter, unless the statement set it.
        op.execute(f"""
            CREATE FUNCTION page_stamp_{owner}_own() RETURNS trigger AS $$
            BEGIN
                IF NEW.page_stamp IS NOT DISTINCT FROM OLD.page_stamp THEN
                    NEW.page_stamp := OLD.page_stamp + 1;
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql
        """)
        op.execute(f"""
            CREATE TRIGGER page_stamp_{owner}_own BEFORE UPDATE ON {owner}
            FOR EACH ROW EXECUTE FUNCTION page_stamp_{owner}_own()
        """)
    for table, owner, column, parent in _triggered():
        changed = _owner_ids("changed_rows", owner, column, parent)
        if table == 'users':
            # Only the changes a page can show: not a sign-in, not a password.
            private = " - ".join(f"'{name}'" for name in USER_PRIVATE_COLUMNS)
            moved = (f"SELECT n.{column} FROM changed_rows n JOIN old_rows o ON o.id = n.id "
                     f"WHERE to_jsonb(n) - {private} IS DISTINCT FROM to_jsonb(o) - {private} "
                     f"UNION SELECT o.{column} FROM changed_rows n JOIN old_rows o "
                     f"ON o.id = n.id WHERE n.{column} IS DISTINCT FROM o.{column}")
        else:
            moved = f"{changed} UNION {_owner_ids('old_rows', owner, column, parent)}"
        op.execute(f"""
            CREATE FUNCTION page_stamp_{table}() RETURNS trigger AS $$
            BEGIN
                {_bump(owner, changed)}
                RETURN NULL;
            END $$ LANGUAGE plpgsql
        """)
        op.execute(f"""
            CREATE FUNCTION page_stamp_{table}_update() RETURNS trigger AS $$
            BEGIN
                {_bump(owner, moved)}
                RETURN NULL;
            END $$ LANGUAGE plpgsql
        """)
        for event, tables, function in (
                ('INSERT', 'NEW TABLE AS changed_rows', f'page_stamp_{table}'),
                ('DELETE', 'OLD TABLE AS changed_rows', f'page_stamp_{table}'),
                ('UPDATE', 'OLD TABLE AS old_rows NEW TABLE AS changed_rows',
                 f'page_stamp_{table}_update')):
            op.execute(f"""
                CREATE TRIGGER page_stamp_{table}_{event.lower()} AFTER {event} ON {table}
                REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {function}()
            """)


def _postgresql_downgrade() -> None:
    for table, *_ in _triggered():
        for event in EVENTS:
            op.execute(f"DROP TRIGGER page_stamp_{table}_{event.lower()} ON {table}")
        op.execute(f"DROP FUNCTION page_stamp_{table}()")
        op.execute(f"DROP FUNCTION page_stamp_{table}_update()")
    for owner in OWNERS:
        op.execute(f"DROP TRIGGER page_stamp_{owner}_own ON {owner}")
        op.execute(f"DROP FUNCTION page_stamp_{owner}_own()")


# --- SQLite: one trigger per row ----------------------------------------------------------


def _sqlite_owner_id(row: str, owner: str, column: str, parent: str | None) -> str:
    if parent is not None:
        return f"(SELECT {OWNERS[owner]} FROM {parent} WHERE id = {row}.{column})"
    return f"{row}.{column}"


def _sqlite_upgrade(columns: dict[str, list[str]]) -> None:
    for owner in OWNERS:
        op.execute(f"""
            CREATE TRIGGER page_stamp_{owner}_own AFTER UPDATE ON {owner}
            WHEN NEW.page_stamp = OLD.page_stamp
            BEGIN UPDATE {owner} SET page_stamp = page_stamp + 1 WHERE id = NEW.id; END
        """)
    for table, owner, column, parent in _triggered():
        national = owner == 'secretarias' and parent is None
        for event in EVENTS:
            rows = {'INSERT': ['NEW'], 'DELETE': ['OLD'], 'UPDATE': ['OLD', 'NEW']}[event]
            ids = ", ".join(_sqlite_owner_id(row, owner, column, parent) for row in rows)
            where = f"id IN ({ids})"
            if national:  # a national catalog is every Secretaría's
                where += "".join(f" OR {row}.{column} IS NULL" for row in rows)
            watched = ""
            if table == 'users' and event == 'UPDATE':
                shown = [name for name in columns['users'] if name not in USER_PRIVATE_COLUMNS]
                watched = f" OF {', '.join(shown)}"
            op.execute(f"""
                CREATE TRIGGER page_stamp_{table}_{event.lower()} AFTER {event}{watched}
                ON {table}
                BEGIN UPDATE {owner} SET page_stamp = page_stamp + 1 WHERE {where}; END
            """)


def _sqlite_downgrade() -> None:
    for table, *_ in _triggered():
        for event in EVENTS:
            op.execute(f"DROP TRIGGER page_stamp_{table}_{event.lower()}")
    for owner in OWNERS:
        op.execute(f"DROP TRIGGER page_stamp_{owner}_own")


def upgrade() -> None:
    for owner in OWNERS:
        with op.batch_alter_table(owner) as batch:
            batch.add_column(sa.Column('page_stamp', sa.Integer(), nullable=False,
                                       server_default='0'))
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        _postgresql_upgrade()
    else:
        columns = {'users': [column['name'] for column in sa.inspect(bind).get_columns('users')]}
        _sqlite_upgrade(columns)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _postgresql_downgrade()
    else:
        _sqlite_downgrade()
    for owner in OWNERS:
        with op.batch_alter_table(owner) as batch:
            batch.drop_column('page_stamp')
