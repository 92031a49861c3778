"""customer profile: birthdays, anniversaries, family, hobbies and memberships in fields of their
own, and follow-ups that come back every year

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""

from alembic import op
import sqlalchemy as sa
import crmbot.store.types


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_facts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=300), nullable=False),
    sa.Column('month', sa.Integer(), nullable=True),
    sa.Column('day', sa.Integer(), nullable=True),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('created_at', crmbot.store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', crmbot.store.types.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', crmbot.store.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_facts_customer_id_customers')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_customer_facts_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_facts'))
    )
    with op.batch_alter_table('customer_facts', schema=None) as batch_op:
        batch_op.create_index('ix_customer_facts_team_customer', ['team_id', 'customer_id'], unique=False)
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('every_year', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('fact_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_followups_fact_id_customer_facts'), 'customer_facts', ['fact_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_followups_fact_id_customer_facts'), type_='foreignkey')
        batch_op.drop_column('fact_id')
        batch_op.drop_column('every_year')
    with op.batch_alter_table('customer_facts', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_facts_team_customer')
    op.drop_table('customer_facts')
