"""routes: rules that hand new customers and complaints to members; a complaint's assignee

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa
import crmbot.store.types


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('routes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=20), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('assignees', sa.JSON(), nullable=False),
    sa.Column('round_robin', sa.Boolean(), nullable=False),
    sa.Column('turn', sa.Integer(), nullable=False),
    sa.Column('created_at', crmbot.store.types.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', crmbot.store.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_routes_team_id'), 'routes', ['team_id'], unique=False)
    with op.batch_alter_table('complaints') as batch:
        batch.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_complaints_assignee_id_members', 'members', ['assignee_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('complaints') as batch:
        batch.drop_constraint('fk_complaints_assignee_id_members', type_='foreignkey')
        batch.drop_column('assignee_id')
    op.drop_index(op.f('ix_routes_team_id'), table_name='routes')
    op.drop_table('routes')
