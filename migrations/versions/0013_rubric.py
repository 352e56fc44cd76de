"""The reviewer's rubric: one verdict per criterion of Circular 0488 for each decision.

A new table only. Rutas returned or approved before it existed simply have no rubric: their
pages say so, and the consolidado counts only the decisions that recorded one.

Revision ID: 0013
Revises: 0012
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pmi_rubric_verdicts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('transition_id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=True),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('decision', sa.Enum('devuelto', 'aprobado', name='rubric_decision', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('criterion', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.Enum('cumple', 'cumple_parcialmente', 'no_cumple', name='rubric_verdict', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('criterion BETWEEN 0 AND 8', name=op.f('ck_pmi_rubric_verdicts_criterion_range')),
    sa.CheckConstraint("verdict = 'cumple' OR length(trim(note)) > 0", name=op.f('ck_pmi_rubric_verdicts_note_present')),
    sa.CheckConstraint('round >= 1', name=op.f('ck_pmi_rubric_verdicts_round_positive')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_pmi_rubric_verdicts_author_id_users')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_pmi_rubric_verdicts_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['pmi_snapshots.id'], name=op.f('fk_pmi_rubric_verdicts_snapshot_id_pmi_snapshots')),
    sa.ForeignKeyConstraint(['transition_id'], ['ruta_transitions.id'], name=op.f('fk_pmi_rubric_verdicts_transition_id_ruta_transitions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pmi_rubric_verdicts')),
    sa.UniqueConstraint('ruta_id', 'round', 'criterion', name='uq_pmi_rubric_verdicts_round')
    )
    with op.batch_alter_table('pmi_rubric_verdicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pmi_rubric_verdicts_ruta_id'), ['ruta_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pmi_rubric_verdicts_transition_id'), ['transition_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pmi_rubric_verdicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pmi_rubric_verdicts_transition_id'))
        batch_op.drop_index(batch_op.f('ix_pmi_rubric_verdicts_ruta_id'))

    op.drop_table('pmi_rubric_verdicts')
