"""execution owner and running tasks: crash recovery finds executions whose process is gone

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("owner_started", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("owner_host", sa.String(length=253), nullable=True))
        batch_op.create_index("ix_executions_owner", ["owner_host", "status"], unique=False)
    op.create_table(
        "execution_tasks",
        sa.Column("execution_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("handle", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["execution_id"], ["executions.id"]),
        sa.PrimaryKeyConstraint("execution_id", "task_id"),
    )


def downgrade() -> None:
    op.drop_table("execution_tasks")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_index("ix_executions_owner")
        batch_op.drop_column("owner_host")
        batch_op.drop_column("owner_started")
        batch_op.drop_column("owner_pid")
