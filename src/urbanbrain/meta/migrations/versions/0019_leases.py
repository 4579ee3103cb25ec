"""leases: expiring, heartbeated claims on scheduled work shared by several workers and servers

Revision ID: 0019
Revises: see down_revision
Create Date: 2026-12-03 22:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_index(op.f('ix_leases_expires_at'), 'leases', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_leases_expires_at'), table_name='leases')
    op.drop_table('leases')
