"""Horizons as data: each calendar row becomes a horizon with its instrument, rule set and a
calendar whose dates are entered when known; autoevaluación extensions; account activation.

- ``calendars`` gains ``catalog_id`` and ``rule_set_id`` (what its Rutas use and its perfil and
  consolidado read), ``opened_at``/``opened_by_id`` and ``late_join_grace_days`` (30 by
  default); its PMI deadline and autoevaluación window may be NULL until entered.
- Every horizon a Secretaría already has (the current one, and every horizon its Rutas were
  opened for, 2021–2023 included) gets a row when it had none, with no dates: the calendar
  page then says what is missing. Each horizon is pinned to the instrument and rule set most
  of its Rutas use, or the Secretaría's current ones.
- ``self_assessment_extensions``: more time for one school's autoevaluación, with a reason.
- ``users.activated_at``: when the person first set a password (taken from
  ``password_changed_at``, or ``created_at`` for accounts created with a password).

Revision ID: 0018
Revises: 0017
"""

from collections import Counter
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calendars', schema=None) as batch_op:
        batch_op.add_column(sa.Column('catalog_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rule_set_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('late_join_grace_days', sa.Integer(),
                                      server_default='30', nullable=False))
        batch_op.add_column(sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('opened_by_id', sa.Integer(), nullable=True))
        batch_op.alter_column('pmi_deadline', existing_type=sa.Date(), nullable=True)
        batch_op.alter_column('self_assessment_opens', existing_type=sa.Date(), nullable=True)
        batch_op.alter_column('self_assessment_closes', existing_type=sa.Date(), nullable=True)
        batch_op.create_check_constraint(op.f('ck_calendars_late_join_grace_days'),
                                         'late_join_grace_days BETWEEN 1 AND 180')
        batch_op.create_foreign_key(batch_op.f('fk_calendars_catalog_id_catalogs'),
                                    'catalogs', ['catalog_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_calendars_rule_set_id_rule_sets'),
                                    'rule_sets', ['rule_set_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_calendars_opened_by_id_users'),
                                    'users', ['opened_by_id'], ['id'])

    _horizons_from_existing_data()

    with op.batch_alter_table('calendars', schema=None) as batch_op:
        batch_op.alter_column('opened_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)

    op.create_table('self_assessment_extensions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('until', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(trim(reason)) > 0',
                       name=op.f('ck_self_assessment_extensions_reason_not_blank')),
    sa.ForeignKeyConstraint(['granted_by_id'], ['users.id'],
                            name=op.f('fk_self_assessment_extensions_granted_by_id_users')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'],
                            name=op.f('fk_self_assessment_extensions_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_self_assessment_extensions'))
    )
    with op.batch_alter_table('self_assessment_extensions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_self_assessment_extensions_ruta_id'), ['ruta_id'],
                              unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('activated_at', sa.DateTime(timezone=True),
                                      nullable=True))
    op.execute("UPDATE users SET activated_at = COALESCE(password_changed_at, created_at) "
               "WHERE password_hash IS NOT NULL AND NOT must_change_password")


def _horizons_from_existing_data() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    settings = {row.secretaria_id: row for row in bind.execute(sa.text(
        "SELECT secretaria_id, catalog_id, rule_set_id FROM instrument_settings"))}
    wanted: dict[tuple[int, int], int] = {}
    for row in bind.execute(sa.text(
            "SELECT id, horizon_start_year, horizon_years FROM secretarias")):
        wanted[(row.id, row.horizon_start_year)] = row.horizon_start_year + row.horizon_years - 1
    rutas: dict[tuple[int, int], list[sa.Row]] = {}
    for row in bind.execute(sa.text(
            "SELECT s.secretaria_id, r.horizon_start_year, r.horizon_end_year, r.catalog_id, "
            "r.rule_set_id FROM rutas r JOIN schools s ON s.id = r.school_id")):
        key = (row.secretaria_id, row.horizon_start_year)
        rutas.setdefault(key, []).append(row)
        wanted[key] = max(wanted.get(key, row.horizon_end_year), row.horizon_end_year)
    existing = {(row.secretaria_id, row.horizon_start_year) for row in bind.execute(sa.text(
        "SELECT secretaria_id, horizon_start_year FROM calendars"))}
    for (secretaria_id, start), end in sorted(wanted.items()):
        if (secretaria_id, start) in existing:
            continue
        bind.execute(sa.text(
            "INSERT INTO calendars (secretaria_id, horizon_start_year, horizon_end_year, "
            "pmi_lead_days, returned_after_days, review_wait_days, checkpoint_lead_days, "
            "checkpoint_grace_days, late_join_grace_days, updated_at, opened_at) VALUES "
            "(:secretaria, :start, :end, 7, 10, 5, 7, 3, 30, :now, :now)").bindparams(
                # Typed: sqlite3's own datetime adapter is deprecated since Python 3.12.
                sa.bindparam("now", type_=sa.DateTime(timezone=True))),
            {"secretaria": secretaria_id, "start": start, "end": end, "now": now})
    for row in bind.execute(sa.text(
            "SELECT id, secretaria_id, horizon_start_year, updated_at FROM calendars")).all():
        used = rutas.get((row.secretaria_id, row.horizon_start_year), [])
        current = settings.get(row.secretaria_id)

        bind.execute(sa.text(
            "UPDATE calendars SET catalog_id = :catalog, rule_set_id = :rules, "
            "opened_at = COALESCE(opened_at, :opened) WHERE id = :id"),
            {"catalog": _most_used(used, "catalog_id",
                                   current.catalog_id if current else None),
             "rules": _most_used(used, "rule_set_id",
                                 current.rule_set_id if current else None),
             "opened": row.updated_at or now, "id": row.id})


def _most_used(rutas: list[sa.Row], column: str, fallback: int | None) -> int | None:
    counts = Counter(getattr(ruta, column) for ruta in rutas if getattr(ruta, column) is not None)
    return counts.most_common(1)[0][0] if counts else fallback


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('activated_at')
    with op.batch_alter_table('self_assessment_extensions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_self_assessment_extensions_ruta_id'))
    op.drop_table('self_assessment_extensions')
    for table in ("institutional_weeks", "follow_up_checkpoints"):
        op.execute(sa.text(
            f"DELETE FROM {table} WHERE calendar_id IN (SELECT id FROM calendars "  # noqa: S608
            "WHERE pmi_deadline IS NULL OR self_assessment_opens IS NULL "
            "OR self_assessment_closes IS NULL)"))
    op.execute("DELETE FROM calendars WHERE pmi_deadline IS NULL "
               "OR self_assessment_opens IS NULL OR self_assessment_closes IS NULL")
    with op.batch_alter_table('calendars', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_calendars_opened_by_id_users'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_calendars_rule_set_id_rule_sets'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_calendars_catalog_id_catalogs'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('ck_calendars_late_join_grace_days'),
                                 type_='check')
        batch_op.alter_column('self_assessment_closes', existing_type=sa.Date(),
                              nullable=False)
        batch_op.alter_column('self_assessment_opens', existing_type=sa.Date(), nullable=False)
        batch_op.alter_column('pmi_deadline', existing_type=sa.Date(), nullable=False)
        batch_op.drop_column('opened_by_id')
        batch_op.drop_column('opened_at')
        batch_op.drop_column('late_join_grace_days')
        batch_op.drop_column('rule_set_id')
        batch_op.drop_column('catalog_id')
