"""A reminder recorded no longer moves its Ruta's page stamp: the Ruta page's key counts them.

Migration 0038 moved ``rutas.page_stamp`` on every insert into ``reminders_sent``. The daily
pass records some 9,000 reminders at once at 10,000 schools, and that trigger rewrote as many
rows of ``rutas``, each with its eight indexes (the stamp is on no index, but a page of
``rutas`` has no room for a second version of its rows, so none of them was a HOT update):
0.44 of the 0.61 s its INSERT took, in a 4.4 s pass. The key of the Ruta page
(``workflow.page_stamps``) counts the Ruta's reminders instead, read in the statement that
reads the stamps: each reminder added moves the count, whichever transaction commits first.
Updates and deletes of reminders (none in the application) still move the stamp.

Revision ID: 0041
Revises: 0040
"""

from alembic import op

revision = '0041'
down_revision = '0040'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER page_stamp_reminders_sent_insert ON reminders_sent")
    else:
        op.execute("DROP TRIGGER page_stamp_reminders_sent_insert")


def downgrade() -> None:
    # What 0038 created (its function, page_stamp_reminders_sent, is still the delete's).
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("""
            CREATE TRIGGER page_stamp_reminders_sent_insert AFTER INSERT ON reminders_sent
            REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT
            EXECUTE FUNCTION page_stamp_reminders_sent()
        """)
    else:
        op.execute("""
            CREATE TRIGGER page_stamp_reminders_sent_insert AFTER INSERT ON reminders_sent
            BEGIN UPDATE rutas SET page_stamp = page_stamp + 1 WHERE id IN (NEW.ruta_id); END
        """)
