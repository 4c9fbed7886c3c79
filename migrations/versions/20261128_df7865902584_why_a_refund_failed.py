"""why a refund failed

Revision ID: df7865902584
Revises: 1562d0278dc8
Create Date: 2026-11-28 03:10:09.908642
"""
import sqlalchemy as sa
from alembic import op

revision = 'df7865902584'
down_revision = '1562d0278dc8'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failure_code', sa.String(length=40), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_column('failure_code')

