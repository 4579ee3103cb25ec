"""cache stamps: one counter per in-process cache, so other processes see changes within seconds

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cache_stamps',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    stamps = sa.table('cache_stamps', sa.column('name', sa.String(40)), sa.column('version', sa.BigInteger()))
    op.bulk_insert(stamps, [{'name': 'gateway', 'version': 0}])


def downgrade() -> None:
    op.drop_table('cache_stamps')
