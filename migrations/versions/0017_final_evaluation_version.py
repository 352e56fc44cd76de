"""The final evaluation gets a version: a form drawn from an older one is a stale edit (409
with the person's values kept), not a silent overwrite.

Existing evaluations start at version 1.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('final_evaluations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('final_evaluations', schema=None) as batch_op:
        batch_op.drop_column('version')
