"""ix_invoice_open's condition written column first, so SQLite's planner can match it

Revision ID: 8e3b6f2a7c15
Revises: 5d0c7a1e9b42
Create Date: 2026-11-28 08:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '8e3b6f2a7c15'
down_revision = '5d0c7a1e9b42'
branch_labels = None
depends_on = None

# SQLite puts a lone column first in a comparison before matching a query's terms against a
# partial index's condition, and compares them literally: "… < amount_total" never matched.
OPEN_INVOICE = "issued_at IS NOT NULL AND voided_at IS NULL AND amount_total > amount_paid + amount_credited"
OLD_OPEN_INVOICE = "issued_at IS NOT NULL AND voided_at IS NULL AND amount_paid + amount_credited < amount_total"
COVERED = ['currency', 'amount_total', 'amount_paid', 'amount_credited']


def _recreate(condition: str) -> None:
    op.drop_index('ix_invoice_open', table_name='invoice')
    op.create_index('ix_invoice_open', 'invoice', ['company_id', 'due_date'], unique=False,
                    sqlite_where=sa.text(condition), postgresql_where=sa.text(condition),
                    postgresql_include=COVERED)


def upgrade() -> None:
    _recreate(OPEN_INVOICE)


def downgrade() -> None:
    _recreate(OLD_OPEN_INVOICE)
