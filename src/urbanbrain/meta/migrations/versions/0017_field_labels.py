"""field labels: display names and descriptions of datasets and their fields, in both languages

Revision ID: 0017
Revises: see down_revision
Create Date: 2026-12-03 22:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('field_labels',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('dataset_id', sa.String(length=40), nullable=False),
    sa.Column('column', sa.String(length=255), nullable=False),
    sa.Column('label_zh', sa.String(length=200), nullable=False),
    sa.Column('label_en', sa.String(length=200), nullable=False),
    sa.Column('description_zh', sa.Text(), nullable=False),
    sa.Column('description_en', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dataset_id', 'column')
    )
    op.create_index(op.f('ix_field_labels_dataset_id'), 'field_labels', ['dataset_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_field_labels_dataset_id'), table_name='field_labels')
    op.drop_table('field_labels')
