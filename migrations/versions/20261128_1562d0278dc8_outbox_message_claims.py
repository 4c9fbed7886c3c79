"""outbox message claims

Revision ID: 1562d0278dc8
Revises: f473e8517d7b
Create Date: 2026-11-28 02:15:47.560718
"""
import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = '1562d0278dc8'
down_revision = 'f473e8517d7b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', portal.models.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
