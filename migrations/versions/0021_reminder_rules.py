"""The «nuevo año de seguimiento» reminder: ``reminders_sent.rule`` accepts
``seguimiento_anual`` (after each later year's first semana institucional, Rutas in
seguimiento are reminded to keep reporting in the new year).

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

RULES = ('pmi_pendiente', 'pmi_proximo', 'pmi_vencido', 'devuelta_sin_reenviar',
         'revision_pendiente', 'corte_proximo', 'corte_vencido')
NEW_RULES = (*RULES, 'seguimiento_anual')


def _known_rule(rules: tuple[str, ...]) -> str:
    return "rule IN ({})".format(", ".join(f"'{rule}'" for rule in rules))


def upgrade() -> None:
    with op.batch_alter_table('reminders_sent', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_reminders_sent_known_rule'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_reminders_sent_known_rule'), _known_rule(NEW_RULES))


def downgrade() -> None:
    op.execute("DELETE FROM reminders_sent WHERE rule = 'seguimiento_anual'")
    with op.batch_alter_table('reminders_sent', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_reminders_sent_known_rule'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_reminders_sent_known_rule'), _known_rule(RULES))
