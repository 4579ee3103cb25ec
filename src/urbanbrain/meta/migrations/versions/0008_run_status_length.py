"""sync run status: room for 'succeeded_with_rejects' (22 characters; was VARCHAR(20))

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 20:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=20), type_=sa.String(length=32),
                              existing_nullable=False)


def downgrade() -> None:
    op.execute("UPDATE sync_runs SET status = 'succeeded' WHERE status = 'succeeded_with_rejects'")
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=32), type_=sa.String(length=20),
                              existing_nullable=False)
