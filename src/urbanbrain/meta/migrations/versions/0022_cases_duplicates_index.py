"""cases: the duplicates check's index (category, lat) replaces the index on category alone

Every intake asks for open cases of the same category within ~60 m (`operate.dispatch.duplicates`).
With only `ix_cases_category`, SQLite and PostgreSQL read every case of the category in the 72 h
window and filter the box row by row: 1.5 ms a report with 2,000 street-light cases (bench/cases), and
linear in a city's backlog. `(category, lat)` finds the box's latitude band directly; it also serves
every look-up by category alone (its leading column), so it replaces that index instead of adding an
eleventh for each INSERT to maintain.

Revision ID: 0022
Revises: see down_revision
Create Date: 2026-12-04 14:45:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_cases_category_lat', 'cases', ['category', 'lat'], unique=False)
    op.drop_index('ix_cases_category', table_name='cases')


def downgrade() -> None:
    op.create_index('ix_cases_category', 'cases', ['category'], unique=False)
    op.drop_index('ix_cases_category_lat', table_name='cases')
