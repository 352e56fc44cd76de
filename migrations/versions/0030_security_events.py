"""The security log: an append-only table of sign-ins, sign-outs, denials, account changes,
exports and take-overs (workflow.cuentas.security_log). Triggers refuse UPDATE and DELETE
on every backend, as for ruta_transitions.

Revision ID: 0030
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

APPEND_ONLY_MESSAGE = "security_events is append-only"


def upgrade() -> None:
    op.create_table(
        'security_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('secretaria_id', sa.Integer(), nullable=True),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.Column('user_agent', sa.String(length=300), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.CheckConstraint("outcome IN ('ok', 'failed', 'denied', 'throttled')",
                           name=op.f('ck_security_events_known_outcome')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_security_events_user_id_users')),
        sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'],
                                name=op.f('fk_security_events_secretaria_id_secretarias')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_security_events')),
    )
    op.create_index('ix_security_events_secretaria_at', 'security_events',
                    ['secretaria_id', 'at'])
    op.create_index('ix_security_events_kind_address_at', 'security_events',
                    ['kind', 'address', 'at'])
    op.create_index('ix_security_events_kind_email_at', 'security_events',
                    ['kind', 'email', 'at'])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION security_events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}';
            END;
            $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER security_events_no_update_or_delete
            BEFORE UPDATE OR DELETE ON security_events
            FOR EACH ROW EXECUTE FUNCTION security_events_append_only()
        """)
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER security_events_no_{event.lower()}
            BEFORE {event} ON security_events
            BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER security_events_no_update_or_delete ON security_events")
        op.execute("DROP FUNCTION security_events_append_only()")
    else:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER security_events_no_{event}")
    op.drop_table('security_events')
