"""The daily pass finds the sent messages whose bodies it empties from an index.

``retention.prune_sent`` asks each day for the messages sent before the retention's cut-off
whose bodies are still there. Without an index for that PostgreSQL read the whole outbox
(122,000 rows at 10,000 schools, and growing: rows stay, only their bodies go) to find none
or a day's worth: 0.2 to 0.3 s of the daily pass. ``ix_outbox_sent_unpruned`` holds only the
sent messages not pruned yet, by ``sent_at``: the pass reads exactly the ones it empties,
and emptying a message takes it out of the index.

Revision ID: 0039
Revises: 0038
"""

from alembic import op
from sqlalchemy import text

revision = '0039'
down_revision = '0038'
branch_labels = None
depends_on = None

UNPRUNED = "status = 'sent' AND body_pruned_at IS NULL"


def upgrade() -> None:
    op.create_index('ix_outbox_sent_unpruned', 'outbox', ['sent_at'], unique=False,
                    postgresql_where=text(UNPRUNED), sqlite_where=text(UNPRUNED))


def downgrade() -> None:
    op.drop_index('ix_outbox_sent_unpruned', table_name='outbox')
