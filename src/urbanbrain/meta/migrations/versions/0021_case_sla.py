"""case_sla: the SLA clocks and their marks move off `cases` into a narrow table, one row per clock

Marking a warning or an escalation on the `cases` row rewrote a wide row and every one of its ten
indexes (a catch-up sweep over 1,000,000 open cases took 2.1-2.6 s; a bare UPDATE of the same rows
1.85 s). `case_sla` holds one row per case and clock kind (0 respond warning, 1 respond due, 2 resolve
warning, 3 resolve due): its moment, when it was raised and when the case stopped it, with one partial
"pending" index, so a mark touches a small row and its key. `cases` keeps its deadlines and stop
moments (the pages and statistics read them); its four mark columns and pending indexes go.

Revision ID: 0021
Revises: see down_revision
Create Date: 2026-12-04 02:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

PENDING = (('respond_warn_at', 'respond_warned_at', 'responded_at'),
           ('respond_due_at', 'respond_overdue_at', 'responded_at'),
           ('resolve_warn_at', 'resolve_warned_at', 'resolved_at'),
           ('resolve_due_at', 'resolve_overdue_at', 'resolved_at'))
MARKS = ('respond_warned_at', 'respond_overdue_at', 'resolve_warned_at', 'resolve_overdue_at')


def upgrade() -> None:
    op.create_table('case_sla',
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('case_id', 'kind')
    )
    op.create_index('ix_case_sla_pending', 'case_sla', ['kind', 'due_at'], unique=False,
                    sqlite_where=sa.text('raised_at IS NULL AND stopped_at IS NULL'),
                    postgresql_where=sa.text('raised_at IS NULL AND stopped_at IS NULL'))
    for kind, (due, raised, done) in enumerate(PENDING):
        op.execute(f"INSERT INTO case_sla (case_id, kind, due_at, raised_at, stopped_at) "
                   f"SELECT id, {kind}, {due}, {raised}, {done} FROM cases WHERE {due} IS NOT NULL")
    for column, _raised, _done in PENDING:
        op.drop_index(f'ix_cases_{column}_pending', table_name='cases')
    with op.batch_alter_table('cases') as batch_op:
        for mark in MARKS:
            batch_op.drop_column(mark)


def downgrade() -> None:
    with op.batch_alter_table('cases') as batch_op:
        for mark in MARKS:
            batch_op.add_column(sa.Column(mark, sa.DateTime(timezone=True), nullable=True))
    for kind, mark in enumerate(MARKS):
        op.execute(f"UPDATE cases SET {mark} = (SELECT raised_at FROM case_sla "
                   f"WHERE case_sla.case_id = cases.id AND case_sla.kind = {kind})")
    for column, raised, done in PENDING:
        op.create_index(f'ix_cases_{column}_pending', 'cases', [column], unique=False,
                        sqlite_where=sa.text(f'{raised} IS NULL AND {done} IS NULL'),
                        postgresql_where=sa.text(f'{raised} IS NULL AND {done} IS NULL'))
    op.drop_index('ix_case_sla_pending', table_name='case_sla')
    op.drop_table('case_sla')
