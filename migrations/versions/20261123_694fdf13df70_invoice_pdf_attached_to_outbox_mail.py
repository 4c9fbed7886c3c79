"""invoice pdf attached to outbox mail

Revision ID: 694fdf13df70
Revises: 4bcc810cf02c
Create Date: 2026-11-23 09:21:25.490773
"""
import sqlalchemy as sa
from alembic import op

revision = '694fdf13df70'
down_revision = '4bcc810cf02c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attach_invoice_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('locale', sa.String(length=5), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_outbox_message_attach_invoice_id_invoice'), 'invoice', ['attach_invoice_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_message_attach_invoice_id_invoice'), type_='foreignkey')
        batch_op.drop_column('locale')
        batch_op.drop_column('attach_invoice_id')

