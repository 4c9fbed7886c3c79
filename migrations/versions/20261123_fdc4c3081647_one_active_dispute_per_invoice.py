"""one active dispute per invoice

Revision ID: fdc4c3081647
Revises: 694fdf13df70
Create Date: 2026-11-23 09:25:11.006278
"""
import sqlalchemy as sa
from alembic import op

revision = 'fdc4c3081647'
down_revision = '694fdf13df70'
branch_labels = None
depends_on = None

ACTIVE = "status IN ('open', 'awaiting_customer')"


def upgrade() -> None:
    with op.batch_alter_table('dispute', schema=None) as batch_op:
        batch_op.create_index('uq_dispute_active_invoice', ['invoice_id'], unique=True,
                              sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))


def downgrade() -> None:
    with op.batch_alter_table('dispute', schema=None) as batch_op:
        batch_op.drop_index('uq_dispute_active_invoice')
