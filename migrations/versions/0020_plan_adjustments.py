"""Plan adjustments during seguimiento (issue 13, item 5).

- ``plan_adjustments``, ``plan_adjustment_changes``, ``plan_adjustment_events``: new and empty
  (``workflow.ajustes.models``); at most one open adjustment per Ruta (partial unique index).
- ``follow_up_reports.pmi_snapshot_id``: the PMI version a report was sent with. Existing
  reports already sent get their Ruta's newest snapshot: before adjustments existed the plan
  could not change after its approval, so that snapshot is the approved plan they reported
  on. Drafts keep NULL (they follow the version in force at their checkpoint), and so do
  reports of plans approved before versions existed (no snapshot: the live plan).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

OPEN = "state IN ('borrador', 'devuelto', 'enviado')"


def upgrade() -> None:
    op.create_table('plan_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('borrador', 'enviado', 'aprobado', 'devuelto', name='plan_adjustment_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), server_default='', nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('number >= 1', name=op.f('ck_plan_adjustments_number_positive')),
    sa.CheckConstraint("state <> 'aprobado' OR snapshot_id IS NOT NULL", name=op.f('ck_plan_adjustments_approved_has_version')),
    sa.CheckConstraint("state = 'borrador' OR sent_at IS NOT NULL", name=op.f('ck_plan_adjustments_sent_has_time')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_plan_adjustments_created_by_id_users')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_plan_adjustments_decided_by_id_users')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_plan_adjustments_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['pmi_snapshots.id'], name=op.f('fk_plan_adjustments_snapshot_id_pmi_snapshots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_adjustments')),
    sa.UniqueConstraint('ruta_id', 'number', name='uq_plan_adjustments_number')
    )
    with op.batch_alter_table('plan_adjustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_adjustments_ruta_id'), ['ruta_id'], unique=False)
        batch_op.create_index('uq_plan_adjustments_open_per_ruta', ['ruta_id'], unique=True, postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))

    op.create_table('plan_adjustment_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('adjustment_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('change', 'add', 'remove', name='plan_adjustment_change_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('element_kind', sa.String(length=20), nullable=False),
    sa.Column('element_id', sa.Integer(), nullable=True),
    sa.Column('element_label', sa.String(length=120), server_default='', nullable=False),
    sa.Column('proposed', sa.JSON(), nullable=False),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.Column('observation', sa.Text(), server_default='', nullable=False),
    sa.Column('result_element_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.CheckConstraint('length(trim(justification)) > 0', name=op.f('ck_plan_adjustment_changes_justification_present')),
    sa.CheckConstraint("element_kind IN ('meta', 'indicador', 'actividad')", name=op.f('ck_plan_adjustment_changes_known_element_kind')),
    sa.CheckConstraint("(kind = 'add') = (element_id IS NULL)", name=op.f('ck_plan_adjustment_changes_target_unless_added')),
    sa.ForeignKeyConstraint(['adjustment_id'], ['plan_adjustments.id'], name=op.f('fk_plan_adjustment_changes_adjustment_id_plan_adjustments')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_plan_adjustment_changes_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_adjustment_changes'))
    )
    with op.batch_alter_table('plan_adjustment_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_adjustment_changes_adjustment_id'), ['adjustment_id'], unique=False)

    op.create_table('plan_adjustment_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('adjustment_id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('from_state', sa.Enum('borrador', 'enviado', 'aprobado', 'devuelto', name='plan_adjustment_from_state', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('to_state', sa.Enum('borrador', 'enviado', 'aprobado', 'devuelto', name='plan_adjustment_to_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.CheckConstraint("trigger IN ('proponer', 'enviar', 'aprobar', 'devolver')", name=op.f('ck_plan_adjustment_events_known_trigger')),
    sa.CheckConstraint("trigger <> 'devolver' OR (note IS NOT NULL AND length(trim(note)) > 0)", name=op.f('ck_plan_adjustment_events_return_has_observations')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_plan_adjustment_events_actor_id_users')),
    sa.ForeignKeyConstraint(['adjustment_id'], ['plan_adjustments.id'], name=op.f('fk_plan_adjustment_events_adjustment_id_plan_adjustments')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_plan_adjustment_events_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_adjustment_events'))
    )
    with op.batch_alter_table('plan_adjustment_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_adjustment_events_adjustment_id'), ['adjustment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_adjustment_events_ruta_id'), ['ruta_id'], unique=False)

    with op.batch_alter_table('follow_up_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pmi_snapshot_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_follow_up_reports_pmi_snapshot_id_pmi_snapshots'), 'pmi_snapshots', ['pmi_snapshot_id'], ['id'])
    # Reports already sent were drawn from the approved plan, the Ruta's newest snapshot.
    op.execute(
        "UPDATE follow_up_reports SET pmi_snapshot_id = (SELECT s.id FROM pmi_snapshots s "
        "WHERE s.ruta_id = follow_up_reports.ruta_id ORDER BY s.number DESC LIMIT 1) "
        "WHERE status <> 'borrador'")


def downgrade() -> None:
    with op.batch_alter_table('follow_up_reports', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_follow_up_reports_pmi_snapshot_id_pmi_snapshots'), type_='foreignkey')
        batch_op.drop_column('pmi_snapshot_id')
    with op.batch_alter_table('plan_adjustment_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_adjustment_events_ruta_id'))
        batch_op.drop_index(batch_op.f('ix_plan_adjustment_events_adjustment_id'))
    op.drop_table('plan_adjustment_events')
    with op.batch_alter_table('plan_adjustment_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_adjustment_changes_adjustment_id'))
    op.drop_table('plan_adjustment_changes')
    with op.batch_alter_table('plan_adjustments', schema=None) as batch_op:
        batch_op.drop_index('uq_plan_adjustments_open_per_ruta', postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
        batch_op.drop_index(batch_op.f('ix_plan_adjustments_ruta_id'))
    op.drop_table('plan_adjustments')
