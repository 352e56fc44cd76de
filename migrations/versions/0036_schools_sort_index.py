"""The consolidado's table of schools reads its page from an index.

/reportes/ lists the Secretaría's active schools by name, compared byte by byte
(``search_keys.bytewise``: ``COLLATE "C"`` on PostgreSQL), 20 a page. Without an index in
that order PostgreSQL sorted all 10,000 schools for each page (11 ms of the page's 95 at
10,000 schools); with ``ix_schools_secretaria_sort`` it reads the page's 20 (0.6 ms), and the
lists of overdue and estancadas Rutas walk it until they have theirs.

Revision ID: 0036
Revises: 0035
"""

from alembic import op

revision = '0036'
down_revision = '0035'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_schools_secretaria_sort', 'schools',
                    ['secretaria_id', 'sort_key', 'id'], unique=False,
                    postgresql_ops={'sort_key': 'COLLATE "C"'})


def downgrade() -> None:
    op.drop_index('ix_schools_secretaria_sort', table_name='schools')
