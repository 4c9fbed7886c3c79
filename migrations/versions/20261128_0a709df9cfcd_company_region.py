"""a company's region: the formats its pages use (GB: British dates in English)

Revision ID: 0a709df9cfcd
Revises: 4e1d798af719
Create Date: 2026-11-28 05:03:30.753238
"""
import sqlalchemy as sa
from alembic import op

revision = '0a709df9cfcd'
down_revision = '4e1d798af719'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: on SQLite a batch copies the table, and dropping the old
# "company" breaks the foreign keys of every row pointing at it. SQLite adds and (since 3.35)
# drops a column in place.
def upgrade() -> None:
    op.add_column('company', sa.Column('region', sa.String(length=2), nullable=True))


def downgrade() -> None:
    op.drop_column('company', 'region')
