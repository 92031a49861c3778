"""digest claims: a lease and a delivery mark on digests_sent

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op
import sqlalchemy as sa
import crmbot.store.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A digest row is written before the send (the claim) and marked after the platform took
    # it, like follow-ups: a crash mid-send leaves an expired claim, not a skipped digest.
    with op.batch_alter_table('digests_sent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('claim_expires_at', crmbot.store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', crmbot.store.types.UTCDateTime(), nullable=True))
    # rows from before this revision were written after delivery
    op.execute("UPDATE digests_sent SET delivered_at = sent_at")


def downgrade() -> None:
    with op.batch_alter_table('digests_sent', schema=None) as batch_op:
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('claim_expires_at')
        batch_op.drop_column('claimed_by')
