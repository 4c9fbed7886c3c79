"""a data version per company, for the invoice list's cache and ETags

Revision ID: 5d0c7a1e9b42
Revises: 0a709df9cfcd
Create Date: 2026-11-28 08:10:00
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '5d0c7a1e9b42'
down_revision = '0a709df9cfcd'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: on SQLite a batch copies the table, and dropping the old
# "company" breaks the foreign keys of every row pointing at it (as in 0a709df9cfcd). SQLite adds
# a NOT NULL column in place only with a default; each company then gets a random version of its own.
def upgrade() -> None:
    op.add_column('company', sa.Column('data_version', sa.String(length=32), nullable=False,
                                       server_default='initial'))
    company = sa.table('company', sa.column('id', sa.Integer), sa.column('data_version', sa.String))
    connection = op.get_bind()
    for (company_id,) in connection.execute(sa.select(company.c.id)).all():
        connection.execute(company.update().where(company.c.id == company_id)
                           .values(data_version=secrets.token_hex(16)))


def downgrade() -> None:
    op.drop_column('company', 'data_version')
