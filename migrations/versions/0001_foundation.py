"""Foundation: Secretarías, schools, users, sessions, login failures, Rutas and their log.

The transition log is append-only: triggers refuse UPDATE and DELETE on every backend.

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 19:56:20.121221
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_address_at', ['address', 'at'], unique=False)
        batch_op.create_index('ix_login_failures_email_at', ['email', 'at'], unique=False)

    op.create_table('secretarias',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('divipola', sa.String(length=5), nullable=False),
    sa.Column('horizon_start_year', sa.Integer(), nullable=False),
    sa.Column('horizon_years', sa.Integer(), nullable=False),
    sa.CheckConstraint('horizon_years BETWEEN 1 AND 10', name=op.f('ck_secretarias_horizon_years')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_secretarias')),
    sa.UniqueConstraint('name', name=op.f('uq_secretarias_name'))
    )
    op.create_table('schools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('secretaria_id', sa.Integer(), nullable=False),
    sa.Column('dane_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('zona', sa.Enum('urbana', 'rural', name='zona', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('locality', sa.String(length=120), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(dane_code) = 12', name=op.f('ck_schools_dane_code_length')),
    sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'], name=op.f('fk_schools_secretaria_id_secretarias')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schools')),
    sa.UniqueConstraint('dane_code', name=op.f('uq_schools_dane_code'))
    )
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schools_secretaria_id'), ['secretaria_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('secretaria_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('administrador', 'revisor', 'rector', 'equipo', 'consulta', name='role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('must_change_password', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(role IN ('rector', 'equipo')) = (school_id IS NOT NULL)", name=op.f('ck_users_school_only_for_school_roles')),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_users_email_lowercase')),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_users_school_id_schools')),
    sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'], name=op.f('fk_users_secretaria_id_secretarias')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_secretaria_id'), ['secretaria_id'], unique=False)
        batch_op.create_index('uq_users_active_rector_per_school', ['school_id'], unique=True, postgresql_where=sa.text("role = 'rector' AND active"), sqlite_where=sa.text("role = 'rector' AND active"))

    op.create_table('rutas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('horizon_start_year', sa.Integer(), nullable=False),
    sa.Column('horizon_end_year', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('borrador', 'autoevaluacion_enviada', 'pmi_formulado', 'en_revision', 'aprobado', 'seguimiento', 'cerrado', name='ruta_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('state_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('horizon_end_year >= horizon_start_year', name=op.f('ck_rutas_horizon_order')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_rutas_reviewer_id_users')),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_rutas_school_id_schools')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rutas')),
    sa.UniqueConstraint('school_id', 'horizon_start_year', name='uq_rutas_school_horizon')
    )
    with op.batch_alter_table('rutas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rutas_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rutas_state'), ['state'], unique=False)

    op.create_table('user_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_user_sessions'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('ruta_transitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=40), nullable=False),
    sa.Column('from_state', sa.Enum('borrador', 'autoevaluacion_enviada', 'pmi_formulado', 'en_revision', 'aprobado', 'seguimiento', 'cerrado', name='from_state', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('to_state', sa.Enum('borrador', 'autoevaluacion_enviada', 'pmi_formulado', 'en_revision', 'aprobado', 'seguimiento', 'cerrado', name='to_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('observations', sa.Text(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.CheckConstraint("trigger <> 'devolver' OR (observations IS NOT NULL AND length(trim(observations)) > 0)", name=op.f('ck_ruta_transitions_return_has_observations')),
    sa.CheckConstraint("trigger IN ('abrir_ruta', 'enviar_autoevaluacion', 'formular_pmi', 'tomar_revision', 'aprobar', 'devolver', 'iniciar_seguimiento', 'cerrar')", name=op.f('ck_ruta_transitions_known_trigger')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_ruta_transitions_actor_id_users')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_ruta_transitions_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ruta_transitions'))
    )
    with op.batch_alter_table('ruta_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ruta_transitions_ruta_id'), ['ruta_id'], unique=False)

    _make_log_append_only()


APPEND_ONLY_MESSAGE = "ruta_transitions is append-only"


def _make_log_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION ruta_transitions_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}';
            END;
            $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER ruta_transitions_no_update_or_delete
            BEFORE UPDATE OR DELETE ON ruta_transitions
            FOR EACH ROW EXECUTE FUNCTION ruta_transitions_append_only()
        """)
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER ruta_transitions_no_{event.lower()}
            BEFORE {event} ON ruta_transitions
            BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END
        """)


def _drop_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ruta_transitions_no_update_or_delete ON ruta_transitions")
        op.execute("DROP FUNCTION ruta_transitions_append_only()")
        return
    for event in ("update", "delete"):
        op.execute(f"DROP TRIGGER ruta_transitions_no_{event}")



def downgrade() -> None:
    _drop_append_only()
    with op.batch_alter_table('ruta_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ruta_transitions_ruta_id'))

    op.drop_table('ruta_transitions')
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))

    op.drop_table('user_sessions')
    with op.batch_alter_table('rutas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rutas_state'))
        batch_op.drop_index(batch_op.f('ix_rutas_school_id'))

    op.drop_table('rutas')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('uq_users_active_rector_per_school', postgresql_where=sa.text("role = 'rector' AND active"), sqlite_where=sa.text("role = 'rector' AND active"))
        batch_op.drop_index(batch_op.f('ix_users_secretaria_id'))
        batch_op.drop_index(batch_op.f('ix_users_school_id'))

    op.drop_table('users')
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schools_secretaria_id'))

    op.drop_table('schools')
    op.drop_table('secretarias')
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_email_at')
        batch_op.drop_index('ix_login_failures_address_at')

    op.drop_table('login_failures')
