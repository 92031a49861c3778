"""the customer look-up index in the database (PostgreSQL reads it there; SQLite keeps its own in
the process and leaves these empty)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('search_states',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('rev', sa.BigInteger(), nullable=False),
    sa.Column('live', sa.Integer(), nullable=False),
    sa.Column('tokens', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_search_states_team_id_teams')),
    sa.PrimaryKeyConstraint('team_id', name=op.f('pk_search_states'))
    )
    op.create_table('search_tokens',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_search_tokens_team_id_teams')),
    sa.PrimaryKeyConstraint('team_id', 'seq', name=op.f('pk_search_tokens')),
    sa.UniqueConstraint('team_id', 'token', name='uq_search_tokens_team_token')
    )
    op.create_table('search_postings',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.Integer(), nullable=False),
    sa.Column('kind', sa.SmallInteger(), nullable=False),
    sa.Column('holders', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_search_postings_team_id_teams')),
    sa.PrimaryKeyConstraint('team_id', 'token', 'kind', name=op.f('pk_search_postings'))
    )
    op.create_table('search_held',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('names', sa.LargeBinary(), nullable=False),
    sa.Column('companies', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_search_held_team_id_teams')),
    sa.PrimaryKeyConstraint('team_id', 'customer_id', name=op.f('pk_search_held'))
    )
    op.create_table('search_contacts',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.SmallInteger(), nullable=False),
    sa.Column('key', sa.String(length=320), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_search_contacts_team_id_teams')),
    sa.PrimaryKeyConstraint('team_id', 'kind', 'key', 'customer_id', name=op.f('pk_search_contacts'))
    )
    op.create_index('ix_search_contacts_team_customer', 'search_contacts', ['team_id', 'customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_search_contacts_team_customer', table_name='search_contacts')
    op.drop_table('search_contacts')
    op.drop_table('search_held')
    op.drop_table('search_postings')
    op.drop_table('search_tokens')
    op.drop_table('search_states')
