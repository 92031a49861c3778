"""kept replies carry their team, so erasing a customer erases the replies kept about them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pending_replies') as batch:
        batch.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
    op.create_index('ix_pending_replies_team', 'pending_replies', ['team_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_pending_replies_team', table_name='pending_replies')
    with op.batch_alter_table('pending_replies') as batch:
        batch.drop_column('team_id')
