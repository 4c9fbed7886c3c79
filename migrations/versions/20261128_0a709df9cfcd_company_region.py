"""a company's region: the formats its pages use (GB: British dates in English)

Revision ID: 0a709df9cfcd
Revises: 975de4ffd43f
Create Date: 2026-11-28 05:03:30.753238
"""
from alembic import op
import sqlalchemy as sa


revision = '0a709df9cfcd'
down_revision = '975de4ffd43f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('company', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region', sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('company', schema=None) as batch_op:
        batch_op.drop_column('region')
