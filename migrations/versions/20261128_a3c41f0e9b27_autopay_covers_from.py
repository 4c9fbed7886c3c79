"""autopay covers invoices falling due from its start

Revision ID: a3c41f0e9b27
Revises: df7865902584
Create Date: 2026-11-28 05:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'a3c41f0e9b27'
down_revision = 'df7865902584'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('autopay_enrolment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('covers_from', sa.Date(), nullable=True))
    # Enrolments made before this rule covered every invoice; the day each was accepted is the
    # nearest honest reading of what its clerk agreed to.
    enrolment = sa.table('autopay_enrolment', sa.column('covers_from', sa.Date()),
                         sa.column('accepted_at', sa.DateTime()))
    op.execute(enrolment.update().values(covers_from=sa.func.date(enrolment.c.accepted_at)))
    with op.batch_alter_table('autopay_enrolment', schema=None) as batch_op:
        batch_op.alter_column('covers_from', existing_type=sa.Date(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('autopay_enrolment', schema=None) as batch_op:
        batch_op.drop_column('covers_from')
