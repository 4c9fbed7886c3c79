"""money received outside the portal, cancelled, refunded

Revision ID: bc32482735f9
Revises: c3d9f1e7a2b4
Create Date: 2026-11-28 04:53:21.602152
"""
import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = 'bc32482735f9'
down_revision = 'c3d9f1e7a2b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offline_method', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('received_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('payer_reference', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('cancelled_at', portal.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancelled_by_user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_payment_cancelled_by_user_id_user_account'), 'user_account', ['cancelled_by_user_id'], ['id'])

    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.add_column(sa.Column('succeeded_at', portal.models.types.UTCDateTime(timezone=True), nullable=True))

    # An offline payment's reference is the payer's, which need not be unique: it leaves the provider's column.
    op.execute("UPDATE payment SET payer_reference = provider_reference, provider_reference = NULL "
               "WHERE channel = 'offline'")
    # Refunds made before the date was kept: the last time the provider was asked is the closest known.
    op.execute("UPDATE refund SET succeeded_at = COALESCE(checked_at, created_at) WHERE status = 'succeeded'")


def downgrade() -> None:
    op.execute("UPDATE payment SET provider_reference = payer_reference WHERE channel = 'offline'")
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_column('succeeded_at')

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payment_cancelled_by_user_id_user_account'), type_='foreignkey')
        batch_op.drop_column('cancel_reason')
        batch_op.drop_column('cancelled_by_user_id')
        batch_op.drop_column('cancelled_at')
        batch_op.drop_column('payer_reference')
        batch_op.drop_column('received_on')
        batch_op.drop_column('offline_method')

