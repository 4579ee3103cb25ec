"""case_sla: the SLA clocks and their marks move off `cases` into a narrow table of their own

Marking a warning or an escalation on the `cases` row rewrote a wide row and every one of its ten
indexes (a catch-up sweep over 1,000,000 open cases took 2.1-2.6 s; a bare UPDATE of the same rows
1.85 s). `case_sla` holds only what the sweep reads and writes: the four deadlines, the two moments
that stop the clocks, the department (for the history rows) and the four marks, with the four partial
"pending" indexes. `cases` keeps its deadlines and stop moments (the pages and statistics read them);
its four mark columns and pending indexes go.

Revision ID: 0020
Revises: see down_revision
Create Date: 2026-12-04 02:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

PENDING = (('respond_warn_at', 'respond_warned_at', 'responded_at'),
           ('respond_due_at', 'respond_overdue_at', 'responded_at'),
           ('resolve_warn_at', 'resolve_warned_at', 'resolved_at'),
           ('resolve_due_at', 'resolve_overdue_at', 'resolved_at'))
DEADLINES = ('respond_warn_at', 'respond_due_at', 'resolve_warn_at', 'resolve_due_at')
MARKS = ('respond_warned_at', 'respond_overdue_at', 'resolve_warned_at', 'resolve_overdue_at')
STOPS = ('responded_at', 'resolved_at')


def upgrade() -> None:
    op.create_table('case_sla',
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('department', sa.String(length=63), nullable=True),
    *(sa.Column(c, sa.DateTime(timezone=True), nullable=True) for c in (*DEADLINES, *STOPS, *MARKS)),
    sa.PrimaryKeyConstraint('case_id')
    )
    for column, raised, done in PENDING:
        op.create_index(f'ix_case_sla_{column}_pending', 'case_sla', [column], unique=False,
                        sqlite_where=sa.text(f'{raised} IS NULL AND {done} IS NULL'),
                        postgresql_where=sa.text(f'{raised} IS NULL AND {done} IS NULL'))
    columns = ', '.join(('department', *DEADLINES, *STOPS, *MARKS))
    op.execute(f"INSERT INTO case_sla (case_id, {columns}) SELECT id, {columns} FROM cases "
               f"WHERE {' OR '.join(f'{d} IS NOT NULL' for d in DEADLINES)}")
    for column, _raised, _done in PENDING:
        op.drop_index(f'ix_cases_{column}_pending', table_name='cases')
    with op.batch_alter_table('cases') as batch_op:
        for mark in MARKS:
            batch_op.drop_column(mark)


def downgrade() -> None:
    with op.batch_alter_table('cases') as batch_op:
        for mark in MARKS:
            batch_op.add_column(sa.Column(mark, sa.DateTime(timezone=True), nullable=True))
    for mark in MARKS:
        op.execute(f"UPDATE cases SET {mark} = (SELECT {mark} FROM case_sla WHERE case_sla.case_id = cases.id)")
    for column, raised, done in PENDING:
        op.create_index(f'ix_cases_{column}_pending', 'cases', [column], unique=False,
                        sqlite_where=sa.text(f'{raised} IS NULL AND {done} IS NULL'),
                        postgresql_where=sa.text(f'{raised} IS NULL AND {done} IS NULL'))
    for column, _raised, _done in PENDING:
        op.drop_index(f'ix_case_sla_{column}_pending', table_name='case_sla')
    op.drop_table('case_sla')
