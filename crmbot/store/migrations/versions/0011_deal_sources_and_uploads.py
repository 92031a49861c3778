"""deal sources and pending uploads: an imported deal keeps the id its old app gave it, and a
file sent to the chat waits for its import to be confirmed

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09
"""

from alembic import op
import sqlalchemy as sa

from crmbot.store.types import UTCDateTime


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deals') as batch:
        batch.add_column(sa.Column('source_ref', sa.String(length=200), nullable=True))
        batch.create_index('ix_deals_team_source', ['team_id', 'source_ref'], unique=False)
    op.create_table(
        'pending_uploads',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_pending_uploads_member_id_members')),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_pending_uploads_team_id_teams')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_uploads')),
    )
    with op.batch_alter_table('pending_uploads') as batch:
        batch.create_index('ix_pending_uploads_team_id', ['team_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pending_uploads') as batch:
        batch.drop_index('ix_pending_uploads_team_id')
    op.drop_table('pending_uploads')
    with op.batch_alter_table('deals') as batch:
        batch.drop_index('ix_deals_team_source')
        batch.drop_column('source_ref')
