"""card payments

Revision ID: d7a8062372e8
Revises: f528d4b6442b
Create Date: 2026-11-23 08:51:14.217608
"""
import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = 'd7a8062372e8'
down_revision = 'f528d4b6442b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('processed_webhook_event',
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('received_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_processed_webhook_event'))
    )
    op.create_table('saved_card',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.String(length=255), nullable=False),
    sa.Column('brand', sa.String(length=30), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('exp_month', sa.Integer(), nullable=False),
    sa.Column('exp_year', sa.Integer(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('saved_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('removed_at', portal.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_saved_card_company_id_company')),
    sa.ForeignKeyConstraint(['saved_by_user_id'], ['user_account.id'], name=op.f('fk_saved_card_saved_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_card')),
    sa.UniqueConstraint('provider_id', name=op.f('uq_saved_card_provider_id'))
    )
    with op.batch_alter_table('saved_card', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_card_company_id'), ['company_id'], unique=False)

    op.create_table('invoice_payment_claim',
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('claimed_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_invoice_payment_claim_invoice_id_invoice')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_invoice_payment_claim_payment_id_payment')),
    sa.PrimaryKeyConstraint('invoice_id', name=op.f('pk_invoice_payment_claim'))
    )
    with op.batch_alter_table('invoice_payment_claim', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_payment_claim_payment_id'), ['payment_id'], unique=False)

    op.create_table('refund',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('allocation_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('idempotency_key', sa.String(length=80), nullable=False),
    sa.Column('provider_reference', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('failure_message', sa.Text(), nullable=True),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_refund_amount_positive')),
    sa.ForeignKeyConstraint(['allocation_id'], ['payment_allocation.id'], name=op.f('fk_refund_allocation_id_payment_allocation')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['user_account.id'], name=op.f('fk_refund_created_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_refund_idempotency_key')),
    sa.UniqueConstraint('provider_reference', name=op.f('uq_refund_provider_reference'))
    )
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_allocation_id'), ['allocation_id'], unique=False)

    with op.batch_alter_table('company', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider_customer_id', sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_company_provider_customer_id'), ['provider_customer_id'])

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('saved_card_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('receipt_email', sa.String(length=254), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_payment_saved_card_id_saved_card'), 'saved_card', ['saved_card_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payment_saved_card_id_saved_card'), type_='foreignkey')
        batch_op.drop_column('receipt_email')
        batch_op.drop_column('saved_card_id')

    with op.batch_alter_table('company', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_company_provider_customer_id'), type_='unique')
        batch_op.drop_column('provider_customer_id')

    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_allocation_id'))

    op.drop_table('refund')
    with op.batch_alter_table('invoice_payment_claim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_payment_claim_payment_id'))

    op.drop_table('invoice_payment_claim')
    with op.batch_alter_table('saved_card', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_card_company_id'))

    op.drop_table('saved_card')
    op.drop_table('processed_webhook_event')
