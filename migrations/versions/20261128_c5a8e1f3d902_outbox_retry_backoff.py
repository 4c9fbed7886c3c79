"""outbox: when a failed e-mail may be tried again (backoff)

Revision ID: c5a8e1f3d902
Revises: bf023c68e8b3
Create Date: 2026-11-28 05:25:00
"""
import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = 'c5a8e1f3d902'
down_revision = 'bf023c68e8b3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', portal.models.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('next_attempt_at')
