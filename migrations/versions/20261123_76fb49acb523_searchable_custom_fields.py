"""searchable custom fields

Revision ID: 76fb49acb523
Revises: fdc4c3081647
Create Date: 2026-11-23 14:11:16.648437
"""
import sqlalchemy as sa
from alembic import op

revision = '76fb49acb523'
down_revision = 'fdc4c3081647'
branch_labels = None
depends_on = None

invoice = sa.table("invoice", sa.column("id", sa.Integer), sa.column("custom_fields", sa.JSON),
                   sa.column("custom_fields_text", sa.Text))


def upgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('custom_fields_text', sa.Text(), server_default='', nullable=False))
    # The invoices already there become searchable by their custom fields too.
    connection = op.get_bind()
    with_fields = connection.execute(sa.select(invoice.c.id, invoice.c.custom_fields)).all()
    for invoice_id, fields in with_fields:
        if fields:
            # The rule of portal.models.invoice.custom_fields_text, as it stood at this revision.
            text = "\n".join(str(value) for value in fields.values()).lower()
            connection.execute(invoice.update().where(invoice.c.id == invoice_id).values(custom_fields_text=text))


def downgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_column('custom_fields_text')
