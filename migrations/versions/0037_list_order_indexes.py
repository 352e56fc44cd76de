"""The revision queue, the list of users and the comunas of the filters read from indexes.

The queue lists a horizon's Rutas, by default whoever has waited longest first
(``state_changed_at``, then the id). Without an index in that order PostgreSQL sorted the
horizon's 10,000 Rutas for each page (10 ms of the queue's 55 at 10,000 schools); with
``ix_rutas_horizon_state_changed`` it reads the page's 20 and their schools (0.2 ms). The
plan adjustments waiting for a decision, listed above the queue longest waiting first, are
read from the partial ``ix_plan_adjustments_sent_waiting`` the same way. The administración's
list of users, by name, sorted a Secretaría's 60,000 users (rectors and their teams) for
each page (24 ms); ``ix_users_secretaria_sort`` holds them in that order (byte by byte, as
``ix_schools_secretaria_sort`` of 0036). The comunas and corregimientos the filters of the
queue and /reportes/ offer are read from ``ix_schools_secretaria_locality`` alone.

Revision ID: 0037
Revises: 0036
"""

from alembic import op
from sqlalchemy import text

revision = '0037'
down_revision = '0036'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_rutas_horizon_state_changed', 'rutas',
                    ['horizon_start_year', 'state_changed_at', 'id'], unique=False)
    op.create_index('ix_plan_adjustments_sent_waiting', 'plan_adjustments', ['sent_at', 'id'],
                    unique=False, postgresql_where=text("state = 'enviado'"),
                    sqlite_where=text("state = 'enviado'"))
    op.create_index('ix_users_secretaria_sort', 'users', ['secretaria_id', 'sort_key', 'id'],
                    unique=False, postgresql_ops={'sort_key': 'COLLATE "C"'})
    op.create_index('ix_schools_secretaria_locality', 'schools', ['secretaria_id', 'locality'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_schools_secretaria_locality', table_name='schools')
    op.drop_index('ix_users_secretaria_sort', table_name='users')
    op.drop_index('ix_plan_adjustments_sent_waiting', table_name='plan_adjustments')
    op.drop_index('ix_rutas_horizon_state_changed', table_name='rutas')
