"""why an approved payment was not charged, as a code and parameters

Revision ID: b8e4d2a6c1f9
Revises: a7c2e9d4b815
Create Date: 2026-11-28 12:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'b8e4d2a6c1f9'
down_revision = 'a7c2e9d4b815'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payment_approval', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refusal_code', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('refusal_params', sa.JSON(), nullable=True))
    # Earlier refusals were kept as English text, which the pages can no longer show: they read
    # as "the payment could not be made" (the audit row keeps the text).
    op.execute("UPDATE payment_approval SET refusal_code = 'payment_error', note = NULL WHERE status = 'not_charged'")


def downgrade() -> None:
    # Not a batch (a copy of the table): SQLite drops a plain column itself, and a copy would
    # reflect the payment table's expression index, which SQLite's reflection cannot read.
    op.drop_column('payment_approval', 'refusal_params')
    op.drop_column('payment_approval', 'refusal_code')
