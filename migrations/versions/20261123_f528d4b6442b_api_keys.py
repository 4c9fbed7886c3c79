"""api keys

Revision ID: f528d4b6442b
Revises: 26d1989e402b
Create Date: 2026-11-23 08:39:58.942494
"""
import sqlalchemy as sa
from alembic import op

import portal.models.types

revision = 'f528d4b6442b'
down_revision = '26d1989e402b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', portal.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', portal.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_key_key_hash')),
    sa.UniqueConstraint('name', name=op.f('uq_api_key_name'))
    )


def downgrade() -> None:
    op.drop_table('api_key')
