"""billing recipients: a table of a company's addresses, each choosing what it receives

Revision ID: b7c4e2a91d30
Revises: a3c41f0e9b27
Create Date: 2026-11-28 05:10:00
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = 'b7c4e2a91d30'
down_revision = 'a3c41f0e9b27'
branch_labels = None
depends_on = None

company = sa.table("company", sa.column("id", sa.Integer), sa.column("billing_emails", sa.JSON))
recipient = sa.table(
    "billing_recipient", sa.column("id", sa.Integer), sa.column("company_id", sa.Integer),
    sa.column("email", sa.String), sa.column("receives_invoices", sa.Boolean),
    sa.column("receives_reminders", sa.Boolean), sa.column("receives_receipts", sa.Boolean),
    sa.column("receives_statements", sa.Boolean), sa.column("invoice_format", sa.String),
    sa.column("created_at", portal.models.types.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table('billing_recipient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('receives_invoices', sa.Boolean(), nullable=False),
    sa.Column('receives_reminders', sa.Boolean(), nullable=False),
    sa.Column('receives_receipts', sa.Boolean(), nullable=False),
    sa.Column('receives_statements', sa.Boolean(), nullable=False),
    sa.Column('invoice_format', sa.String(length=10), nullable=False),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("invoice_format IN ('pdf', 'facturx', 'link')", name=op.f('ck_billing_recipient_invoice_format_known')),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_billing_recipient_company_id_company')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_recipient')),
    sa.UniqueConstraint('company_id', 'email', name='uq_billing_recipient_company_email')
    )
    with op.batch_alter_table('billing_recipient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_recipient_company_id'), ['company_id'], unique=False)
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attach_format', sa.String(length=10), nullable=True))

    # Every address a company had receives everything, with the PDF, as it did before.
    connection = op.get_bind()
    now = datetime.now(UTC)
    for company_id, emails in connection.execute(sa.select(company.c.id, company.c.billing_emails)).all():
        seen = set()
        for email in emails or []:
            if email.lower() in seen:
                continue
            seen.add(email.lower())
            connection.execute(recipient.insert().values(
                company_id=company_id, email=email, receives_invoices=True, receives_reminders=True,
                receives_receipts=True, receives_statements=True, invoice_format="pdf", created_at=now))
    connection.execute(sa.update(sa.table("outbox_message", sa.column("attach_invoice_id", sa.Integer),
                                          sa.column("attach_format", sa.String)))
                       .where(sa.column("attach_invoice_id").is_not(None)).values(attach_format="pdf"))
    # Not in batch mode: SQLite drops a column in place since 3.35, where batch mode would copy
    # the company table, and dropping the old copy breaks every foreign key pointing at it.
    op.drop_column('company', 'billing_emails')


def downgrade() -> None:
    op.add_column('company', sa.Column('billing_emails', sa.JSON(), server_default='[]', nullable=False))
    connection = op.get_bind()
    addresses = {}
    for company_id, email in connection.execute(
            sa.select(recipient.c.company_id, recipient.c.email).order_by(recipient.c.id)).all():
        addresses.setdefault(company_id, []).append(email)
    for (company_id,) in connection.execute(sa.select(company.c.id)).all():
        connection.execute(company.update().where(company.c.id == company_id)
                           .values(billing_emails=addresses.get(company_id, [])))
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('attach_format')
    with op.batch_alter_table('billing_recipient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_recipient_company_id'))
    op.drop_table('billing_recipient')
