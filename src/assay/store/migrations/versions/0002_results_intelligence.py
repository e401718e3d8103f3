"""results intelligence: executions.sha/branch, quarantine, analytics index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TAG_LENGTH = 255


def upgrade() -> None:
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sha", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("branch", sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f("ix_executions_sha"), ["sha"], unique=False)
        batch_op.create_index(batch_op.f("ix_executions_branch"), ["branch"], unique=False)
    _backfill_sha_and_branch()

    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.String(length=16), nullable=False),
        sa.Column("workflow", sa.String(length=253), nullable=False),
        sa.Column("classname", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("test_id"),
    )

    with op.batch_alter_table("test_cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_test_cases_execution_cover",
            ["execution_id", "test_id", "attempt", "status", "duration_ms"],
            unique=False,
        )


def _backfill_sha_and_branch() -> None:
    """Copy the ``sha`` and ``branch`` tags of existing executions into the new columns."""
    executions = sa.table(
        "executions",
        sa.column("id", sa.String()),
        sa.column("tags", sa.JSON()),
        sa.column("sha", sa.String()),
        sa.column("branch", sa.String()),
    )
    connection = op.get_bind()
    updates = []
    for execution_id, tags in connection.execute(sa.select(executions.c.id, executions.c.tags)):
        sha, branch = (tags or {}).get("sha"), (tags or {}).get("branch")
        if sha or branch:
            updates.append(
                {
                    "execution_id": execution_id,
                    "new_sha": str(sha)[:_TAG_LENGTH] if sha else None,
                    "new_branch": str(branch)[:_TAG_LENGTH] if branch else None,
                }
            )
    if updates:
        connection.execute(
            executions.update()
            .where(executions.c.id == sa.bindparam("execution_id"))
            .values(sha=sa.bindparam("new_sha"), branch=sa.bindparam("new_branch")),
            updates,
        )


def downgrade() -> None:
    with op.batch_alter_table("test_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_test_cases_execution_cover")

    op.drop_table("quarantine")

    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_executions_branch"))
        batch_op.drop_index(batch_op.f("ix_executions_sha"))
        batch_op.drop_column("branch")
        batch_op.drop_column("sha")
