"""Calendar per horizon, reminders sent, and daily job runs.

``reminders_sent`` holds one row per reminder queued, UNIQUE (ruta_id, rule, occurrence_key):
the database, not the scheduler, guarantees a reminder goes out at most once.
``job_runs`` (UNIQUE (job, day)) makes the daily pass run once per day.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 20:09:21.620545
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('queued', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs')),
    sa.UniqueConstraint('job', 'day', name='uq_job_runs_job_day')
    )
    op.create_table('calendars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('secretaria_id', sa.Integer(), nullable=False),
    sa.Column('horizon_start_year', sa.Integer(), nullable=False),
    sa.Column('horizon_end_year', sa.Integer(), nullable=False),
    sa.Column('pmi_deadline', sa.Date(), nullable=False),
    sa.Column('self_assessment_opens', sa.Date(), nullable=False),
    sa.Column('self_assessment_closes', sa.Date(), nullable=False),
    sa.Column('pmi_lead_days', sa.Integer(), nullable=False),
    sa.Column('returned_after_days', sa.Integer(), nullable=False),
    sa.Column('review_wait_days', sa.Integer(), nullable=False),
    sa.Column('checkpoint_lead_days', sa.Integer(), nullable=False),
    sa.Column('checkpoint_grace_days', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('checkpoint_grace_days BETWEEN 1 AND 60', name=op.f('ck_calendars_checkpoint_grace_days')),
    sa.CheckConstraint('checkpoint_lead_days BETWEEN 1 AND 60', name=op.f('ck_calendars_checkpoint_lead_days')),
    sa.CheckConstraint('horizon_end_year >= horizon_start_year', name=op.f('ck_calendars_horizon_order')),
    sa.CheckConstraint('pmi_lead_days BETWEEN 1 AND 60', name=op.f('ck_calendars_pmi_lead_days')),
    sa.CheckConstraint('returned_after_days BETWEEN 1 AND 90', name=op.f('ck_calendars_returned_after_days')),
    sa.CheckConstraint('review_wait_days BETWEEN 1 AND 90', name=op.f('ck_calendars_review_wait_days')),
    sa.CheckConstraint('self_assessment_closes <= pmi_deadline', name=op.f('ck_calendars_self_assessment_before_pmi')),
    sa.CheckConstraint('self_assessment_opens <= self_assessment_closes', name=op.f('ck_calendars_self_assessment_window')),
    sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'], name=op.f('fk_calendars_secretaria_id_secretarias')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_calendars_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendars')),
    sa.UniqueConstraint('secretaria_id', 'horizon_start_year', name='uq_calendars_secretaria_horizon')
    )
    with op.batch_alter_table('calendars', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendars_secretaria_id'), ['secretaria_id'], unique=False)

    op.create_table('follow_up_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.CheckConstraint('length(trim(name)) > 0', name=op.f('ck_follow_up_checkpoints_name_not_blank')),
    sa.ForeignKeyConstraint(['calendar_id'], ['calendars.id'], name=op.f('fk_follow_up_checkpoints_calendar_id_calendars')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_checkpoints')),
    sa.UniqueConstraint('calendar_id', 'name', name='uq_follow_up_checkpoints_calendar_name'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('follow_up_checkpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_checkpoints_calendar_id'), ['calendar_id'], unique=False)

    op.create_table('institutional_weeks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.CheckConstraint('year BETWEEN 2000 AND 2100', name=op.f('ck_institutional_weeks_year_range')),
    sa.ForeignKeyConstraint(['calendar_id'], ['calendars.id'], name=op.f('fk_institutional_weeks_calendar_id_calendars')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_institutional_weeks')),
    sa.UniqueConstraint('calendar_id', 'year', name='uq_institutional_weeks_calendar_year')
    )
    with op.batch_alter_table('institutional_weeks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_institutional_weeks_calendar_id'), ['calendar_id'], unique=False)

    op.create_table('reminders_sent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('occurrence_key', sa.String(length=60), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("rule IN ('pmi_pendiente', 'pmi_proximo', 'pmi_vencido', 'devuelta_sin_reenviar', 'revision_pendiente', 'corte_proximo', 'corte_vencido')", name=op.f('ck_reminders_sent_known_rule')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_reminders_sent_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminders_sent')),
    sa.UniqueConstraint('ruta_id', 'rule', 'occurrence_key', name='uq_reminders_sent_occurrence')
    )
    with op.batch_alter_table('reminders_sent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminders_sent_ruta_id'), ['ruta_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reminders_sent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminders_sent_ruta_id'))

    op.drop_table('reminders_sent')
    with op.batch_alter_table('institutional_weeks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_institutional_weeks_calendar_id'))

    op.drop_table('institutional_weeks')
    with op.batch_alter_table('follow_up_checkpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follow_up_checkpoints_calendar_id'))

    op.drop_table('follow_up_checkpoints')
    with op.batch_alter_table('calendars', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendars_secretaria_id'))

    op.drop_table('calendars')
    op.drop_table('job_runs')
