"""search snapshots: a built customer index kept for the next worker

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('search_snapshots',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('rev', sa.BigInteger(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_search_snapshots_team_id_teams')),
    sa.PrimaryKeyConstraint('team_id', name=op.f('pk_search_snapshots'))
    )


def downgrade() -> None:
    op.drop_table('search_snapshots')
