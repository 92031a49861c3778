"""a follow-up may be about one deal: deleting the deal cancels its open follow-ups (and undo
brings them back)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('followups') as batch:
        batch.add_column(sa.Column('deal_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_followups_deal_id_deals'), 'deals', ['deal_id'], ['id'])
        batch.create_index('ix_followups_deal_id', ['deal_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('followups') as batch:
        batch.drop_index('ix_followups_deal_id')
        batch.drop_constraint(op.f('fk_followups_deal_id_deals'), type_='foreignkey')
        batch.drop_column('deal_id')
