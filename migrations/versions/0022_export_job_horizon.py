"""A background export records the horizon it consolidates: a file asked for while looking at
2024–2026 stays a 2024–2026 file, whichever horizon is current when it is written.

Jobs already stored get their Secretaría's current horizon (the only one exports showed).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('export_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('horizon_start_year', sa.Integer(), nullable=True))
    op.execute("UPDATE export_jobs SET horizon_start_year = (SELECT secretarias.horizon_start_year "
               "FROM secretarias WHERE secretarias.id = export_jobs.secretaria_id)")


def downgrade() -> None:
    with op.batch_alter_table('export_jobs', schema=None) as batch_op:
        batch_op.drop_column('horizon_start_year')
