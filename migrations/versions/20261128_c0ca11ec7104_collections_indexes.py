"""indexes for the collections dashboard and lists: open invoices, issue date, payment date

Revision ID: c0ca11ec7104
Revises: bc32482735f9
Create Date: 2026-11-28 05:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'c0ca11ec7104'
down_revision = 'bc32482735f9'
branch_labels = None
depends_on = None

OPEN_INVOICE = "issued_at IS NOT NULL AND voided_at IS NULL AND amount_paid + amount_credited < amount_total"


def upgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index('ix_invoice_open', ['company_id', 'due_date'], unique=False,
                              sqlite_where=sa.text(OPEN_INVOICE), postgresql_where=sa.text(OPEN_INVOICE),
                              postgresql_include=['currency', 'amount_total', 'amount_paid', 'amount_credited'])
        batch_op.create_index('ix_invoice_issue_date', ['issue_date'], unique=False,
                              postgresql_include=['currency', 'amount_total', 'issued_at', 'voided_at'])
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index('ix_payment_date', [sa.text('coalesce(succeeded_at, created_at)'), 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_date')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index('ix_invoice_issue_date')
        batch_op.drop_index('ix_invoice_open')
