"""lean test-case indexes: drop ix_test_cases_execution_id, a prefix of the covering index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 13:45:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ix_test_cases_execution_cover starts with execution_id: it serves every lookup by
    # execution, and one index fewer to maintain makes ingest cheaper.
    with op.batch_alter_table("test_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_test_cases_execution_id")


def downgrade() -> None:
    with op.batch_alter_table("test_cases", schema=None) as batch_op:
        batch_op.create_index("ix_test_cases_execution_id", ["execution_id"], unique=False)
