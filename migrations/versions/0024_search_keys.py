"""Names are found and sorted as people expect: a search key kept beside each school's and
user's name (lower case, no accents, ñ → n) and a natural-order key for a school's locality
(«Comuna 2» before «Comuna 10»). Existing rows get their keys computed here.

Revision ID: 0024
Revises: 0023
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


# Frozen copies of workflow/search_keys.py as it was at this revision.
def search_key(text: str | None) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"\s+", " ", bare.casefold()).strip()


def sort_key(text: str | None) -> str:
    return search_key(re.sub("[Ññ]|[Nn]\u0303", "n{", text or ""))


def natural_key(text: str | None) -> str:
    return re.sub(r"\d+", lambda match: match.group().zfill(6), sort_key(text))


def upgrade() -> None:
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_key', sa.String(length=200), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('sort_key', sa.String(length=240), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('locality_sort', sa.String(length=240), server_default='',
                                      nullable=False))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_key', sa.String(length=200), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('sort_key', sa.String(length=240), server_default='',
                                      nullable=False))
    connection = op.get_bind()
    for row in connection.execute(sa.text("SELECT id, name, locality FROM schools")).all():
        connection.execute(
            sa.text("UPDATE schools SET search_key = :key, sort_key = :name_sort, "
                    "locality_sort = :sort WHERE id = :id"),
            {"key": search_key(row.name), "name_sort": sort_key(row.name),
             "sort": natural_key(row.locality), "id": row.id})
    for row in connection.execute(sa.text("SELECT id, name FROM users")).all():
        connection.execute(
            sa.text("UPDATE users SET search_key = :key, sort_key = :name_sort WHERE id = :id"),
            {"key": search_key(row.name), "name_sort": sort_key(row.name), "id": row.id})


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('sort_key')
        batch_op.drop_column('search_key')
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.drop_column('locality_sort')
        batch_op.drop_column('sort_key')
        batch_op.drop_column('search_key')
