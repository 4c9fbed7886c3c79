"""autopay: enrolments, attempts, approvals, advance notices; why a payment failed

Revision ID: f473e8517d7b
Revises: e2dedb84e660
Create Date: 2026-11-28 02:08:12.193628
"""
import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = 'f473e8517d7b'
down_revision = 'e2dedb84e660'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('autopay_approval',
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('approved_by_user_id', sa.Integer(), nullable=False),
    sa.Column('approved_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['approved_by_user_id'], ['user_account.id'], name=op.f('fk_autopay_approval_approved_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_autopay_approval_invoice_id_invoice')),
    sa.PrimaryKeyConstraint('invoice_id', name=op.f('pk_autopay_approval'))
    )
    op.create_table('autopay_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('charge_date', sa.Date(), nullable=False),
    sa.Column('sent_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_autopay_notice_invoice_id_invoice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_autopay_notice')),
    sa.UniqueConstraint('invoice_id', 'charge_date', name='uq_autopay_notice_invoice_date')
    )
    with op.batch_alter_table('autopay_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_autopay_notice_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('autopay_enrolment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('saved_card_id', sa.Integer(), nullable=False),
    sa.Column('days_before_due', sa.Integer(), nullable=False),
    sa.Column('max_amount', sa.BigInteger(), nullable=True),
    sa.Column('max_currency', sa.String(length=3), nullable=True),
    sa.Column('mandate_text', sa.Text(), nullable=False),
    sa.Column('accepted_by_user_id', sa.Integer(), nullable=False),
    sa.Column('accepted_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_ip', sa.String(length=45), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('paused_reason', sa.String(length=40), nullable=True),
    sa.Column('ended_at', portal.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_by_user_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('days_before_due >= 0 AND days_before_due <= 30', name=op.f('ck_autopay_enrolment_days_before_due_range')),
    sa.CheckConstraint('max_amount IS NULL OR max_amount > 0', name=op.f('ck_autopay_enrolment_max_amount_positive')),
    sa.ForeignKeyConstraint(['accepted_by_user_id'], ['user_account.id'], name=op.f('fk_autopay_enrolment_accepted_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_autopay_enrolment_company_id_company')),
    sa.ForeignKeyConstraint(['ended_by_user_id'], ['user_account.id'], name=op.f('fk_autopay_enrolment_ended_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['saved_card_id'], ['saved_card.id'], name=op.f('fk_autopay_enrolment_saved_card_id_saved_card')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_autopay_enrolment'))
    )
    with op.batch_alter_table('autopay_enrolment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_autopay_enrolment_company_id'), ['company_id'], unique=False)
        batch_op.create_index('uq_autopay_enrolment_company_live', ['company_id'], unique=True, sqlite_where=sa.text("status != 'cancelled'"), postgresql_where=sa.text("status != 'cancelled'"))

    op.create_table('autopay_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('attempt_number', sa.Integer(), nullable=False),
    sa.Column('charge_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('next_try_on', sa.Date(), nullable=True),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enrolment_id'], ['autopay_enrolment.id'], name=op.f('fk_autopay_attempt_enrolment_id_autopay_enrolment')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_autopay_attempt_invoice_id_invoice')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_autopay_attempt_payment_id_payment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_autopay_attempt')),
    sa.UniqueConstraint('invoice_id', 'attempt_number', name='uq_autopay_attempt_invoice_number')
    )
    with op.batch_alter_table('autopay_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_autopay_attempt_enrolment_id'), ['enrolment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_autopay_attempt_invoice_id'), ['invoice_id'], unique=False)

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failure_code', sa.String(length=40), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_column('failure_code')

    with op.batch_alter_table('autopay_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_autopay_attempt_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_autopay_attempt_enrolment_id'))

    op.drop_table('autopay_attempt')
    with op.batch_alter_table('autopay_enrolment', schema=None) as batch_op:
        batch_op.drop_index('uq_autopay_enrolment_company_live', sqlite_where=sa.text("status != 'cancelled'"), postgresql_where=sa.text("status != 'cancelled'"))
        batch_op.drop_index(batch_op.f('ix_autopay_enrolment_company_id'))

    op.drop_table('autopay_enrolment')
    with op.batch_alter_table('autopay_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_autopay_notice_invoice_id'))

    op.drop_table('autopay_notice')
    op.drop_table('autopay_approval')
