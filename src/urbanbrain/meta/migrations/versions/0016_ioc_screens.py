"""ioc_screens: which tiles and map layers each screen of the operations centre shows

Revision ID: 0016
Revises: see down_revision
Create Date: 2026-12-03 23:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ioc_screens',
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('tiles', sa.JSON(), nullable=False),
    sa.Column('layers', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('ioc_screens')
