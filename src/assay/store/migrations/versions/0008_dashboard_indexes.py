"""dashboard at 100,000 executions: tags as rows, summary counts as columns (trends)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COUNTS = ("tests", "skipped", "passed")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("executions", schema=None) as batch_op:
        for name in _COUNTS:
            batch_op.add_column(sa.Column(f"summary_{name}", sa.Integer(), nullable=True))
    for name in _COUNTS:  # from the summary each execution has
        value = (
            f"CAST(summary ->> '{name}' AS INTEGER)"
            if postgres
            else f"CAST(json_extract(summary, '$.{name}') AS INTEGER)"
        )
        op.execute(f"UPDATE executions SET summary_{name} = {value}")
    op.create_index(
        "ix_executions_trends",
        "executions",
        [
            "queued_at",
            "status",
            "workflow",
            "branch",
            "duration_ms",
            *(f"summary_{name}" for name in _COUNTS),
        ],
        unique=False,
    )
    op.create_table(
        "execution_tags",
        sa.Column("execution_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=253), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["execution_id"], ["executions.id"]),
        sa.PrimaryKeyConstraint("execution_id", "key"),
    )
    op.create_index("ix_execution_tags_lookup", "execution_tags", ["key", "value"], unique=False)
    each = "json_each_text(e.tags)" if postgres else "json_each(e.tags)"
    op.execute(  # the tags each execution has, but those too long for the index
        "INSERT INTO execution_tags (execution_id, key, value) "
        f"SELECT e.id, j.key, j.value FROM executions e, {each} j "
        "WHERE length(j.key) <= 253 AND length(j.value) <= 255"
    )


def downgrade() -> None:
    op.drop_index("ix_execution_tags_lookup", table_name="execution_tags")
    op.drop_table("execution_tags")
    op.drop_index("ix_executions_trends", table_name="executions")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        for name in _COUNTS:
            batch_op.drop_column(f"summary_{name}")
