"""What the daily pass reads and writes of the outbox and the reminders, made cheaper.

- ``retention.prune_sent`` asks each day for the messages sent before the retention's
  cut-off whose bodies are still there. Without an index for that PostgreSQL read the whole
  outbox (122,000 rows at 10,000 schools, and growing: rows stay, only their bodies go) to
  find none or a day's worth: 0.2 to 0.3 s of the daily pass. ``ix_outbox_sent_unpruned``
  holds only the sent messages not pruned yet, by ``sent_at``: the pass reads exactly the
  ones it empties, and emptying a message takes it out of the index.
- A pass at 10,000 schools inserts 9,500 messages and 9,100 reminders. Two of the indexes
  each of those rows went into repeat the first column of another one:
  ``ix_outbox_secretaria_id`` (``ix_outbox_secretaria_status_id`` begins with
  ``secretaria_id``) and ``ix_reminders_sent_ruta_id`` (``uq_reminders_sent_occurrence``
  begins with ``ruta_id``). They are dropped; every lookup they served uses the longer one.
- PostgreSQL compresses a message's bodies (a row of 2.5 kB), with pglz unless told
  otherwise; lz4 compresses them as well (936 against 974 bytes an HTML body) in about
  two thirds of the time: 9,500 rows took 0.16-0.21 s against 0.24-0.31 s. Only where the
  server has lz4 (PostgreSQL 14 on, built with it); the bodies stored keep their compression.

Revision ID: 0040
Revises: 0039
"""

from alembic import op
from sqlalchemy import text

revision = '0040'
down_revision = '0039'
branch_labels = None
depends_on = None

UNPRUNED = "status = 'sent' AND body_pruned_at IS NULL"
BODIES = ('subject', 'text_body', 'html_body')


def _has_lz4() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return False
    return bool(bind.scalar(text(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
        "WHERE name = 'default_toast_compression'")))


def _compress_bodies(method: str) -> None:
    if _has_lz4():
        op.execute("ALTER TABLE outbox " + ", ".join(
            f"ALTER COLUMN {column} SET COMPRESSION {method}" for column in BODIES))


def upgrade() -> None:
    op.create_index('ix_outbox_sent_unpruned', 'outbox', ['sent_at'], unique=False,
                    postgresql_where=text(UNPRUNED), sqlite_where=text(UNPRUNED))
    op.drop_index('ix_outbox_secretaria_id', table_name='outbox')
    op.drop_index('ix_reminders_sent_ruta_id', table_name='reminders_sent')
    _compress_bodies('lz4')


def downgrade() -> None:
    _compress_bodies('default')
    op.create_index('ix_reminders_sent_ruta_id', 'reminders_sent', ['ruta_id'], unique=False)
    op.create_index('ix_outbox_secretaria_id', 'outbox', ['secretaria_id'], unique=False)
    op.drop_index('ix_outbox_sent_unpruned', table_name='outbox')
