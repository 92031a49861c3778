"""tags: words a team labels customers with, and which customer carries which

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa
import crmbot.store.types


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('created_at', crmbot.store.types.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', crmbot.store.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_tags_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tags')),
    sa.UniqueConstraint('team_id', 'key', name='uq_tags_team_key')
    )
    op.create_index(op.f('ix_tags_team_id'), 'tags', ['team_id'], unique=False)
    op.create_table('customer_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('created_at', crmbot.store.types.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', crmbot.store.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_tags_customer_id_customers')),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_customer_tags_tag_id_tags')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_customer_tags_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_tags')),
    sa.UniqueConstraint('customer_id', 'tag_id', name='uq_customer_tags_customer_tag')
    )
    op.create_index(op.f('ix_customer_tags_customer_id'), 'customer_tags', ['customer_id'], unique=False)
    op.create_index('ix_customer_tags_team_tag', 'customer_tags', ['team_id', 'tag_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_customer_tags_team_tag', table_name='customer_tags')
    op.drop_index(op.f('ix_customer_tags_customer_id'), table_name='customer_tags')
    op.drop_table('customer_tags')
    op.drop_index(op.f('ix_tags_team_id'), table_name='tags')
    op.drop_table('tags')
