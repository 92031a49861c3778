"""the reminder queue's own index: follow-ups waiting for delivery, by (due_at, id), partial
(delivered rows keep state 'pending', so ix_followups_state_due grows with every reminder ever
sent and a claim sorted every due row of a burst)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

WAITING = sa.text("state = 'pending' AND deleted_at IS NULL AND delivered_at IS NULL")


def upgrade() -> None:
    op.create_index('ix_followups_waiting_due', 'followups', ['due_at', 'id'], unique=False,
                    postgresql_where=WAITING, sqlite_where=WAITING)


def downgrade() -> None:
    op.drop_index('ix_followups_waiting_due', table_name='followups')
