"""indicator_function: an indicator may be a Python function registered by entry point instead of SQL

Revision ID: 0020
Revises: see down_revision
Create Date: 2026-12-04 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('indicators') as batch:
        batch.add_column(sa.Column('function', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('indicators') as batch:
        batch.drop_column('function')
