"""delivery: pending replies kept through platform outages, rate windows shared by workers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa
import crmbot.store.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pending_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('adapter', sa.String(length=20), nullable=False),
    sa.Column('chat_id', sa.String(length=64), nullable=False),
    sa.Column('thread', sa.String(length=64), nullable=True),
    sa.Column('chat_key', sa.String(length=160), nullable=False),
    sa.Column('replies', sa.JSON(), nullable=False),
    sa.Column('created_at', crmbot.store.types.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', crmbot.store.types.UTCDateTime(), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claim_expires_at', crmbot.store.types.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_replies'))
    )
    op.create_index('ix_pending_replies_chat', 'pending_replies', ['chat_key', 'id'], unique=False)
    op.create_table('rate_windows',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('minute', sa.BigInteger(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_windows'))
    )


def downgrade() -> None:
    op.drop_table('rate_windows')
    op.drop_index('ix_pending_replies_chat', table_name='pending_replies')
    op.drop_table('pending_replies')
