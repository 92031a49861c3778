"""calendar keys: a member's private calendar address, kept only as a hash

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('members') as batch:
        batch.add_column(sa.Column('calendar_key', sa.String(length=64), nullable=True))
        batch.create_index('ix_members_calendar_key', ['calendar_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('members') as batch:
        batch.drop_index('ix_members_calendar_key')
        batch.drop_column('calendar_key')
