"""disputes and guest pay

Revision ID: 4bcc810cf02c
Revises: d7a8062372e8
Create Date: 2026-11-23 09:20:31.909809
"""
import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = '4bcc810cf02c'
down_revision = 'd7a8062372e8'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('throttle_hit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('hit_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_throttle_hit'))
    )
    with op.batch_alter_table('throttle_hit', schema=None) as batch_op:
        batch_op.create_index('ix_throttle_hit_scope_key_at', ['scope', 'key', 'hit_at'], unique=False)

    op.create_table('dispute',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('raised_by_user_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('disputed_amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.Column('credit_note_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', portal.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('disputed_amount > 0', name=op.f('ck_dispute_amount_positive')),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_dispute_company_id_company')),
    sa.ForeignKeyConstraint(['credit_note_id'], ['credit_note.id'], name=op.f('fk_dispute_credit_note_id_credit_note')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_dispute_invoice_id_invoice')),
    sa.ForeignKeyConstraint(['raised_by_user_id'], ['user_account.id'], name=op.f('fk_dispute_raised_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute'))
    )
    with op.batch_alter_table('dispute', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispute_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispute_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispute_status'), ['status'], unique=False)

    op.create_table('dispute_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dispute_id', sa.Integer(), nullable=False),
    sa.Column('invoice_line_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_dispute_line_amount_positive')),
    sa.ForeignKeyConstraint(['dispute_id'], ['dispute.id'], name=op.f('fk_dispute_line_dispute_id_dispute'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invoice_line_id'], ['invoice_line.id'], name=op.f('fk_dispute_line_invoice_line_id_invoice_line')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute_line'))
    )
    with op.batch_alter_table('dispute_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispute_line_dispute_id'), ['dispute_id'], unique=False)

    op.create_table('dispute_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dispute_id', sa.Integer(), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=False),
    sa.Column('from_staff', sa.Boolean(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_user_id'], ['user_account.id'], name=op.f('fk_dispute_message_author_user_id_user_account')),
    sa.ForeignKeyConstraint(['dispute_id'], ['dispute.id'], name=op.f('fk_dispute_message_dispute_id_dispute'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute_message'))
    )
    with op.batch_alter_table('dispute_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispute_message_dispute_id'), ['dispute_id'], unique=False)

    op.create_table('dispute_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=80), nullable=False),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['dispute_message.id'], name=op.f('fk_dispute_attachment_message_id_dispute_message'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute_attachment')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_dispute_attachment_storage_key'))
    )
    with op.batch_alter_table('dispute_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispute_attachment_message_id'), ['message_id'], unique=False)

    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pay_link_version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=10), server_default='portal', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_column('channel')

    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_column('pay_link_version')

    with op.batch_alter_table('dispute_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispute_attachment_message_id'))

    op.drop_table('dispute_attachment')
    with op.batch_alter_table('dispute_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispute_message_dispute_id'))

    op.drop_table('dispute_message')
    with op.batch_alter_table('dispute_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispute_line_dispute_id'))

    op.drop_table('dispute_line')
    with op.batch_alter_table('dispute', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispute_status'))
        batch_op.drop_index(batch_op.f('ix_dispute_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_dispute_company_id'))

    op.drop_table('dispute')
    with op.batch_alter_table('throttle_hit', schema=None) as batch_op:
        batch_op.drop_index('ix_throttle_hit_scope_key_at')

    op.drop_table('throttle_hit')
