"""Versioned rule sets pinned to each Ruta.

The settings that decide a Ruta's results (fortaleza cut-off, evidence level, prioritisation
formula and count, minimum text lengths, equipo de gestión size) move from
``instrument_settings`` into ``rule_sets``, a table of versions never edited in place. Each
Secretaría's current settings become its version 1 (the defaults where it had none), and every
existing Ruta is pinned to its Secretaría's version 1, so results computed so far stay as they
were. Prioritisation changes from product to sum (the 2026 guide adds the three) only for Rutas
whose Secretaría stores a new version.

Revision ID: 0011
Revises: 0010
"""

from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rule_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('secretaria_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('evidence_from_level', sa.Integer(), nullable=False),
    sa.Column('fortaleza_from_level', sa.Integer(), nullable=False),
    sa.Column('priority_formula', sa.String(length=16), nullable=False),
    sa.Column('priority_count', sa.Integer(), nullable=False),
    sa.Column('min_text_chars', sa.Integer(), nullable=False),
    sa.Column('min_text_words', sa.Integer(), nullable=False),
    sa.Column('team_min_members', sa.Integer(), nullable=False),
    sa.Column('team_min_estamentos', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('evidence_from_level BETWEEN 1 AND 5', name=op.f('ck_rule_sets_evidence_from_level')),
    sa.CheckConstraint('fortaleza_from_level BETWEEN 2 AND 4', name=op.f('ck_rule_sets_fortaleza_from_level')),
    sa.CheckConstraint("priority_formula IN ('suma', 'producto')", name=op.f('ck_rule_sets_priority_formula')),
    sa.CheckConstraint('priority_count BETWEEN 1 AND 10', name=op.f('ck_rule_sets_priority_count')),
    sa.CheckConstraint('min_text_chars BETWEEN 1 AND 200', name=op.f('ck_rule_sets_min_text_chars')),
    sa.CheckConstraint('min_text_words BETWEEN 1 AND 30', name=op.f('ck_rule_sets_min_text_words')),
    sa.CheckConstraint('team_min_members BETWEEN 1 AND 30', name=op.f('ck_rule_sets_team_min_members')),
    sa.CheckConstraint('team_min_estamentos BETWEEN 1 AND 7', name=op.f('ck_rule_sets_team_min_estamentos')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_rule_sets_created_by_id_users')),
    sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'], name=op.f('fk_rule_sets_secretaria_id_secretarias')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_sets')),
    sa.UniqueConstraint('secretaria_id', 'number', name='uq_rule_sets_number')
    )
    with op.batch_alter_table('rule_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rule_sets_secretaria_id'), ['secretaria_id'], unique=False)

    with op.batch_alter_table('instrument_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_set_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_instrument_settings_rule_set_id_rule_sets'), 'rule_sets', ['rule_set_id'], ['id'])

    with op.batch_alter_table('rutas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_set_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_rutas_rule_set_id'), ['rule_set_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_rutas_rule_set_id_rule_sets'), 'rule_sets', ['rule_set_id'], ['id'])

    _version_one_from_settings()

    with op.batch_alter_table('instrument_settings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_instrument_settings_evidence_from_level'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_instrument_settings_fortaleza_from_level'), type_='check')
        batch_op.drop_column('fortaleza_from_level')
        batch_op.drop_column('evidence_from_level')


def _version_one_from_settings() -> None:
    """Version 1 of every Secretaría with Rutas or settings; pin its Rutas to it."""
    bind = op.get_bind()
    now = datetime.now(timezone.utc)
    settings = {row.secretaria_id: row for row in bind.execute(sa.text(
        "SELECT secretaria_id, evidence_from_level, fortaleza_from_level "
        "FROM instrument_settings"))}
    secretarias = set(settings) | {row[0] for row in bind.execute(sa.text(
        "SELECT DISTINCT schools.secretaria_id FROM rutas "
        "JOIN schools ON schools.id = rutas.school_id"))}
    rule_sets = sa.table(
        'rule_sets', sa.column('id', sa.Integer), sa.column('secretaria_id', sa.Integer),
        sa.column('number', sa.Integer), sa.column('evidence_from_level', sa.Integer),
        sa.column('fortaleza_from_level', sa.Integer), sa.column('priority_formula', sa.String),
        sa.column('priority_count', sa.Integer), sa.column('min_text_chars', sa.Integer),
        sa.column('min_text_words', sa.Integer), sa.column('team_min_members', sa.Integer),
        sa.column('team_min_estamentos', sa.Integer),
        sa.column('created_at', sa.DateTime(timezone=True)))
    for secretaria_id in sorted(secretarias):
        found = settings.get(secretaria_id)
        # The product is what every Ruta so far was prioritised with: results stay the same.
        bind.execute(rule_sets.insert().values(
            secretaria_id=secretaria_id, number=1,
            evidence_from_level=found.evidence_from_level if found else 3,
            fortaleza_from_level=found.fortaleza_from_level if found else 3,
            priority_formula='producto', priority_count=3, min_text_chars=20,
            min_text_words=3, team_min_members=4, team_min_estamentos=2, created_at=now))
        rule_set_id = bind.execute(sa.text(
            "SELECT id FROM rule_sets WHERE secretaria_id = :s AND number = 1"),
            {"s": secretaria_id}).scalar_one()
        if found is None:
            bind.execute(sa.text(
                "INSERT INTO instrument_settings (secretaria_id, catalog_id, "
                "evidence_from_level, fortaleza_from_level, updated_at, rule_set_id) "
                "VALUES (:s, NULL, 3, 3, :now, :r)").bindparams(
                    # Typed: sqlite3's own datetime adapter is deprecated since Python 3.12.
                    sa.bindparam("now", type_=sa.DateTime(timezone=True))),
                {"s": secretaria_id, "now": now, "r": rule_set_id})
        else:
            bind.execute(sa.text(
                "UPDATE instrument_settings SET rule_set_id = :r WHERE secretaria_id = :s"),
                {"s": secretaria_id, "r": rule_set_id})
        bind.execute(sa.text(
            "UPDATE rutas SET rule_set_id = :r WHERE school_id IN "
            "(SELECT id FROM schools WHERE secretaria_id = :s)"),
            {"s": secretaria_id, "r": rule_set_id})


def downgrade() -> None:
    with op.batch_alter_table('instrument_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('evidence_from_level', sa.Integer(), nullable=False,
                                      server_default='3'))
        batch_op.add_column(sa.Column('fortaleza_from_level', sa.Integer(), nullable=False,
                                      server_default='3'))
    op.execute(
        "UPDATE instrument_settings SET "
        "evidence_from_level = (SELECT evidence_from_level FROM rule_sets "
        "WHERE rule_sets.id = instrument_settings.rule_set_id), "
        "fortaleza_from_level = (SELECT fortaleza_from_level FROM rule_sets "
        "WHERE rule_sets.id = instrument_settings.rule_set_id) "
        "WHERE rule_set_id IS NOT NULL")
    with op.batch_alter_table('instrument_settings', schema=None) as batch_op:
        batch_op.alter_column('evidence_from_level', server_default=None)
        batch_op.alter_column('fortaleza_from_level', server_default=None)
        batch_op.create_check_constraint(batch_op.f('ck_instrument_settings_evidence_from_level'),
                                         'evidence_from_level BETWEEN 1 AND 5')
        batch_op.create_check_constraint(batch_op.f('ck_instrument_settings_fortaleza_from_level'),
                                         'fortaleza_from_level BETWEEN 2 AND 4')
        batch_op.drop_constraint(batch_op.f('fk_instrument_settings_rule_set_id_rule_sets'),
                                 type_='foreignkey')
        batch_op.drop_column('rule_set_id')

    with op.batch_alter_table('rutas', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_rutas_rule_set_id_rule_sets'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_rutas_rule_set_id'))
        batch_op.drop_column('rule_set_id')

    with op.batch_alter_table('rule_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rule_sets_secretaria_id'))

    op.drop_table('rule_sets')
