"""The outbox keeps the audit of old sent messages without their bodies, and its page counts
by status from an index.

``outbox.body_pruned_at``: when the daily pass emptied the bodies of a message sent more than
``OUTBOX_RETENTION_DAYS`` ago (NULL: the bodies are still there). Who, when, the subject, the
status and the row's id (its Message-ID is ``<ruta-correo-{id}@…>``) stay.
``ix_outbox_secretaria_status_id``: «Correo saliente» counts a Secretaría's messages by
status reading only this index, and pages them (newest first, with or without a status) in
its order.

Revision ID: 0032
Revises: 0031
"""

import sqlalchemy as sa
from alembic import op

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('outbox', sa.Column('body_pruned_at', sa.DateTime(timezone=True),
                                      nullable=True))
    op.create_index('ix_outbox_secretaria_status_id', 'outbox',
                    ['secretaria_id', 'status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_secretaria_status_id', table_name='outbox')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('body_pruned_at')
