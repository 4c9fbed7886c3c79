"""outbox: e-mails queued unwritten, composed by the delivery that sends them

Revision ID: a7c2e9d4b815
Revises: 8e3b6f2a7c15
Create Date: 2026-11-28 08:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'a7c2e9d4b815'
down_revision = '8e3b6f2a7c15'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('compose', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('about_invoice_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_outbox_message_about_invoice_id_invoice'), 'invoice',
                                    ['about_invoice_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_message_about_invoice_id_invoice'), type_='foreignkey')
        batch_op.drop_column('about_invoice_id')
        batch_op.drop_column('compose')
