"""source objects: the partition spec a steward chose for the object's lake table (issue 17)

Revision ID: 0018
Revises: see down_revision
Create Date: 2026-12-03 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('source_objects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partition_by', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('source_objects', schema=None) as batch_op:
        batch_op.drop_column('partition_by')
