"""the company's own fields, and their values on invoices

Revision ID: c3d9f1e7a2b4
Revises: c5a8e1f3d902
Create Date: 2026-11-28 05:40:00
"""
import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = 'c3d9f1e7a2b4'
down_revision = 'c5a8e1f3d902'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('company_field',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('text', 'choice')", name=op.f('ck_company_field_kind_known')),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_company_field_company_id_company')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_company_field')),
    sa.UniqueConstraint('company_id', 'label', name='uq_company_field_company_label')
    )
    with op.batch_alter_table('company_field', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_company_field_company_id'), ['company_id'], unique=False)

    op.create_table('invoice_field_value',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('field_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('updated_by_user_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['field_id'], ['company_field.id'], name=op.f('fk_invoice_field_value_field_id_company_field')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_invoice_field_value_invoice_id_invoice')),
    sa.ForeignKeyConstraint(['updated_by_user_id'], ['user_account.id'], name=op.f('fk_invoice_field_value_updated_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_field_value')),
    sa.UniqueConstraint('invoice_id', 'field_id', name='uq_invoice_field_value_invoice_field')
    )
    with op.batch_alter_table('invoice_field_value', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_field_value_field_id'), ['field_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invoice_field_value', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_field_value_field_id'))
    op.drop_table('invoice_field_value')
    with op.batch_alter_table('company_field', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_company_field_company_id'))
    op.drop_table('company_field')
