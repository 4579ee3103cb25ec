"""indicators: the city's vital signs and their time series

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 21:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('indicators',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('title_zh', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('theme', sa.String(length=40), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('sql', sa.Text(), nullable=False),
    sa.Column('breakdown', sa.String(length=100), nullable=True),
    sa.Column('target', sa.String(length=40), nullable=True),
    sa.Column('warn', sa.String(length=40), nullable=True),
    sa.Column('alarm', sa.String(length=40), nullable=True),
    sa.Column('department', sa.String(length=63), nullable=False),
    sa.Column('schedule', sa.String(length=100), nullable=False),
    sa.Column('iso_code', sa.String(length=40), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('value', sa.Double(), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stale', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('alert_id', sa.String(length=40), nullable=True),
    sa.Column('running_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('indicators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indicators_name'), ['name'], unique=True)
        batch_op.create_index(batch_op.f('ix_indicators_theme'), ['theme'], unique=False)
        batch_op.create_index(batch_op.f('ix_indicators_department'), ['department'], unique=False)

    op.create_table('indicator_values',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('indicator_id', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('value', sa.Double(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('indicator_values', schema=None) as batch_op:
        batch_op.create_index('ix_indicator_values_indicator_at', ['indicator_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('indicator_values', schema=None) as batch_op:
        batch_op.drop_index('ix_indicator_values_indicator_at')
    op.drop_table('indicator_values')
    with op.batch_alter_table('indicators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_indicators_department'))
        batch_op.drop_index(batch_op.f('ix_indicators_theme'))
        batch_op.drop_index(batch_op.f('ix_indicators_name'))
    op.drop_table('indicators')
