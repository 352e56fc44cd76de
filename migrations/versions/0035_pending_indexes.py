"""The «Pendientes» badge reads the sent reports and the answered PMI observations from
indexes.

The badge counts a revisor's pending items on every page of the Secretaría (a UNION of six
kinds); at 10,000 schools two of its kinds read every follow-up report and every PMI
observation to keep the few sent or answered ones (37 ms of a page's 80). With
``ix_follow_up_reports_status_ruta_id`` and ``ix_pmi_observations_status_ruta_id`` they read
only those (28 ms).

Revision ID: 0035
Revises: 0034
"""

from alembic import op

revision = '0035'
down_revision = '0034'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_follow_up_reports_status_ruta_id', 'follow_up_reports',
                    ['status', 'ruta_id', 'id'], unique=False)
    op.create_index('ix_pmi_observations_status_ruta_id', 'pmi_observations',
                    ['status', 'ruta_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_pmi_observations_status_ruta_id', table_name='pmi_observations')
    op.drop_index('ix_follow_up_reports_status_ruta_id', table_name='follow_up_reports')
