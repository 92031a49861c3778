"""member e-mail: the address a member sends mail from, so mail they copy to crmbot is theirs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('members') as batch:
        batch.add_column(sa.Column('email', sa.String(length=320), nullable=True))
        batch.create_index('ix_members_email', ['email'])


def downgrade() -> None:
    with op.batch_alter_table('members') as batch:
        batch.drop_index('ix_members_email')
        batch.drop_column('email')
