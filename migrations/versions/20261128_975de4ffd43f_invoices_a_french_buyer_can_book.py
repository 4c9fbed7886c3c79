"""Invoices a French buyer can book: company billing address and VAT number, custom field labels

Revision ID: 975de4ffd43f
Revises: c0ca11ec7104
Create Date: 2026-11-28 04:55:11.191240
"""
import sqlalchemy as sa
from alembic import op

revision = '975de4ffd43f'
down_revision = 'c0ca11ec7104'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('custom_field_label',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('field_key', sa.String(length=40), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.CheckConstraint("locale IN ('fr', 'en')", name=op.f('ck_custom_field_label_locale_supported')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_field_label')),
    sa.UniqueConstraint('field_key', 'locale', name='uq_custom_field_label_key_locale')
    )
    # Not in batch mode: SQLite changes columns in place, where batch mode would copy the company
    # table, and dropping the old copy breaks every foreign key pointing at it.
    op.add_column('company', sa.Column('billing_address', sa.String(length=300), nullable=True))
    op.add_column('company', sa.Column('billing_postcode', sa.String(length=20), nullable=True))
    op.add_column('company', sa.Column('billing_city', sa.String(length=100), nullable=True))
    op.add_column('company', sa.Column('billing_country', sa.String(length=2), nullable=True))
    op.add_column('company', sa.Column('vat_number', sa.String(length=20), nullable=True))
    op.add_column('company', sa.Column('siren', sa.String(length=9), nullable=True))


def downgrade() -> None:
    op.drop_column('company', 'siren')
    op.drop_column('company', 'vat_number')
    op.drop_column('company', 'billing_country')
    op.drop_column('company', 'billing_city')
    op.drop_column('company', 'billing_postcode')
    op.drop_column('company', 'billing_address')
    op.drop_table('custom_field_label')
