"""cases: the event closed loop (cases, history, attachments, SLA policies, calendar, dispatch catalogue)

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-03 19:53:40.337220
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0009'
branch_labels = None
depends_on = None

PENDING = (('respond_warn_at', 'respond_warned_at', 'responded_at'),
           ('respond_due_at', 'respond_overdue_at', 'responded_at'),
           ('resolve_warn_at', 'resolve_warned_at', 'resolved_at'),
           ('resolve_due_at', 'resolve_overdue_at', 'resolved_at'))


def upgrade() -> None:
    op.create_table('case_attachments',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_attachments_case_id'), ['case_id'], unique=False)

    op.create_table('case_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=63), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_events_case_id'), ['case_id'], unique=False)

    op.create_table('cases',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('source_ref', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('priority', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('department', sa.String(length=63), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('district', sa.String(length=100), nullable=True),
    sa.Column('street', sa.String(length=100), nullable=True),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('reporter', sa.String(length=200), nullable=True),
    sa.Column('reporter_contact', sa.String(length=200), nullable=True),
    sa.Column('person_id', sa.String(length=80), nullable=True),
    sa.Column('proposal', sa.JSON(), nullable=False),
    sa.Column('merged_into', sa.String(length=40), nullable=True),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('returns', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('respond_warn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('respond_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolve_warn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolve_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('respond_warned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('respond_overdue_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolve_warned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolve_overdue_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'source_ref')
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_department'), ['department'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_status'), ['status'], unique=False)

    # the SLA sweep reads only deadlines still pending: partial indexes stay small as cases close
    for column, raised, done in PENDING:
        op.create_index(f'ix_cases_{column}_pending', 'cases', [column], unique=False,
                        sqlite_where=sa.text(f'{raised} IS NULL AND {done} IS NULL'),
                        postgresql_where=sa.text(f'{raised} IS NULL AND {done} IS NULL'))

    op.create_table('dispatch_rules',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('district', sa.String(length=100), nullable=False),
    sa.Column('department', sa.String(length=63), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('category', 'district')
    )
    with op.batch_alter_table('dispatch_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispatch_rules_category'), ['category'], unique=False)

    op.create_table('intake_cursors',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('sla_policies',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('priority', sa.String(length=20), nullable=False),
    sa.Column('respond_minutes', sa.Integer(), nullable=False),
    sa.Column('resolve_minutes', sa.Integer(), nullable=False),
    sa.Column('working_hours', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('category', 'priority')
    )
    op.create_table('work_calendars',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('timezone', sa.String(length=60), nullable=False),
    sa.Column('day_start', sa.String(length=5), nullable=False),
    sa.Column('day_end', sa.String(length=5), nullable=False),
    sa.Column('weekdays', sa.JSON(), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('workdays', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    for column, _raised, _done in PENDING:
        op.drop_index(f'ix_cases_{column}_pending', table_name='cases')
    op.drop_table('work_calendars')
    op.drop_table('sla_policies')
    op.drop_table('intake_cursors')
    with op.batch_alter_table('dispatch_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispatch_rules_category'))

    op.drop_table('dispatch_rules')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_status'))
        batch_op.drop_index(batch_op.f('ix_cases_department'))
        batch_op.drop_index(batch_op.f('ix_cases_created_at'))
        batch_op.drop_index(batch_op.f('ix_cases_category'))

    op.drop_table('cases')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_events_case_id'))

    op.drop_table('case_events')
    with op.batch_alter_table('case_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_attachments_case_id'))

    op.drop_table('case_attachments')
