"""operate cache stamp: the dispatch catalogue, SLA policies and calendar are cached per process

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-03 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamps = sa.table('cache_stamps', sa.column('name', sa.String(40)), sa.column('version', sa.BigInteger()))
    op.bulk_insert(stamps, [{'name': 'operate', 'version': 0}])


def downgrade() -> None:
    op.execute("DELETE FROM cache_stamps WHERE name = 'operate'")
