"""reminders and statements: policies, the reminder e-mails and their items, statement subscriptions, statement attachments

Revision ID: 4e1d798af719
Revises: 975de4ffd43f
Create Date: 2026-11-28 04:52:23.268768
"""
import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = '4e1d798af719'
down_revision = '975de4ffd43f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('monthly_statement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('sent_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_monthly_statement_company_id_company')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monthly_statement')),
    sa.UniqueConstraint('company_id', 'month', name='uq_monthly_statement_company_month')
    )
    with op.batch_alter_table('monthly_statement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monthly_statement_company_id'), ['company_id'], unique=False)

    op.create_table('reminder_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('notice_days', sa.Integer(), nullable=True),
    sa.Column('reminder_days', sa.JSON(), nullable=True),
    sa.Column('updated_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_user_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('(company_id IS NULL) = is_default', name=op.f('ck_reminder_policy_default_has_no_company')),
    sa.CheckConstraint('notice_days IS NULL OR (notice_days >= 1 AND notice_days <= 60)', name=op.f('ck_reminder_policy_notice_days_range')),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_reminder_policy_company_id_company')),
    sa.ForeignKeyConstraint(['updated_by_user_id'], ['user_account.id'], name=op.f('fk_reminder_policy_updated_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_policy'))
    )
    with op.batch_alter_table('reminder_policy', schema=None) as batch_op:
        batch_op.create_index('uq_reminder_policy_company', ['company_id'], unique=True)
        batch_op.create_index('uq_reminder_policy_default', ['is_default'], unique=True, sqlite_where=sa.text('is_default'), postgresql_where=sa.text('is_default'))

    op.create_table('statement_subscription',
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_statement_subscription_company_id_company')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['user_account.id'], name=op.f('fk_statement_subscription_created_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('company_id', name=op.f('pk_statement_subscription'))
    )
    op.create_table('reminder_email',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('outbox_message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_reminder_email_company_id_company')),
    sa.ForeignKeyConstraint(['outbox_message_id'], ['outbox_message.id'], name=op.f('fk_reminder_email_outbox_message_id_outbox_message')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_email'))
    )
    with op.batch_alter_table('reminder_email', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_email_company_id'), ['company_id'], unique=False)

    op.create_table('reminder_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('amount_asked', sa.BigInteger(), nullable=False),
    sa.Column('amount_disputed', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.ForeignKeyConstraint(['email_id'], ['reminder_email.id'], name=op.f('fk_reminder_item_email_id_reminder_email')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_reminder_item_invoice_id_invoice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_item')),
    sa.UniqueConstraint('invoice_id', 'step', name='uq_reminder_item_invoice_step')
    )
    with op.batch_alter_table('reminder_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_item_email_id'), ['email_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reminder_item_invoice_id'), ['invoice_id'], unique=False)

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attach_statement', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('attach_statement')

    with op.batch_alter_table('reminder_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_item_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_reminder_item_email_id'))

    op.drop_table('reminder_item')
    with op.batch_alter_table('reminder_email', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_email_company_id'))

    op.drop_table('reminder_email')
    op.drop_table('statement_subscription')
    with op.batch_alter_table('reminder_policy', schema=None) as batch_op:
        batch_op.drop_index('uq_reminder_policy_default', sqlite_where=sa.text('is_default'), postgresql_where=sa.text('is_default'))
        batch_op.drop_index('uq_reminder_policy_company')

    op.drop_table('reminder_policy')
    with op.batch_alter_table('monthly_statement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monthly_statement_company_id'))

    op.drop_table('monthly_statement')
