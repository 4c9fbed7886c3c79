"""payment approvals

Revision ID: bf023c68e8b3
Revises: b7c4e2a91d30
Create Date: 2026-11-28 05:07:51.839820
"""
import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = 'bf023c68e8b3'
down_revision = 'b7c4e2a91d30'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('approval_rule',
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('threshold', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('payers_may_approve', sa.Boolean(), nullable=False),
    sa.Column('updated_by_user_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_approval_rule_currency_iso')),
    sa.CheckConstraint('threshold > 0', name=op.f('ck_approval_rule_threshold_positive')),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_approval_rule_company_id_company')),
    sa.ForeignKeyConstraint(['updated_by_user_id'], ['user_account.id'], name=op.f('fk_approval_rule_updated_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('company_id', name=op.f('pk_approval_rule'))
    )
    op.create_table('payment_approval',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=80), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('part_amount', sa.BigInteger(), nullable=True),
    sa.Column('saved_card_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('prepared_by_user_id', sa.Integer(), nullable=False),
    sa.Column('prepared_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_user_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', portal.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('awaiting', 'approved', 'not_charged', 'rejected', 'withdrawn', 'expired')", name=op.f('ck_payment_approval_status_known')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payment_approval_amount_positive')),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_payment_approval_company_id_company')),
    sa.ForeignKeyConstraint(['decided_by_user_id'], ['user_account.id'], name=op.f('fk_payment_approval_decided_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_payment_approval_payment_id_payment')),
    sa.ForeignKeyConstraint(['prepared_by_user_id'], ['user_account.id'], name=op.f('fk_payment_approval_prepared_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['saved_card_id'], ['saved_card.id'], name=op.f('fk_payment_approval_saved_card_id_saved_card')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_approval')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_payment_approval_idempotency_key'))
    )
    with op.batch_alter_table('payment_approval', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_approval_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_approval_status'), ['status'], unique=False)

    op.create_table('payment_approval_invoice',
    sa.Column('approval_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payment_approval_invoice_amount_positive')),
    sa.ForeignKeyConstraint(['approval_id'], ['payment_approval.id'], name=op.f('fk_payment_approval_invoice_approval_id_payment_approval')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_payment_approval_invoice_invoice_id_invoice')),
    sa.PrimaryKeyConstraint('approval_id', 'invoice_id', name=op.f('pk_payment_approval_invoice'))
    )
    with op.batch_alter_table('payment_approval_invoice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_approval_invoice_invoice_id'), ['invoice_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payment_approval_invoice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_approval_invoice_invoice_id'))

    op.drop_table('payment_approval_invoice')
    with op.batch_alter_table('payment_approval', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_approval_status'))
        batch_op.drop_index(batch_op.f('ix_payment_approval_company_id'))

    op.drop_table('payment_approval')
    op.drop_table('approval_rule')
