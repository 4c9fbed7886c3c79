"""payments needing attention and refunds of unallocated credit

Revision ID: e2dedb84e660
Revises: 76fb49acb523
Create Date: 2026-11-28 01:45:03.208416
"""
import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = 'e2dedb84e660'
down_revision = '76fb49acb523'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checked_at', portal.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attention', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('attention_cleared_at', portal.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_payment_attention'), ['attention'], unique=False)

    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('checked_at', portal.models.types.UTCDateTime(timezone=True), nullable=True))
    # Every refund made so far was of an invoice's share: its payment is its allocation's.
    op.execute("UPDATE refund SET payment_id = (SELECT payment_id FROM payment_allocation"
               " WHERE payment_allocation.id = refund.allocation_id)")
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.alter_column('payment_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('allocation_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_refund_payment_id'), ['payment_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_refund_payment_id_payment'), 'payment', ['payment_id'], ['id'])



def downgrade() -> None:
    op.execute("DELETE FROM refund WHERE allocation_id IS NULL")
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_refund_payment_id_payment'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_refund_payment_id'))
        batch_op.alter_column('allocation_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('checked_at')
        batch_op.drop_column('payment_id')

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_attention'))
        batch_op.drop_column('attention_cleared_at')
        batch_op.drop_column('attention')
        batch_op.drop_column('checked_at')

