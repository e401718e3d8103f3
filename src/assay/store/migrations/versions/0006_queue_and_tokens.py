"""server: queued run requests, worker leases, concurrency groups, API tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 11:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("concurrency_group", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("concurrency_max", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("abort_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_executions_status_queued", ["status", "queued_at"], unique=False)
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_index("ix_executions_status_queued")
        batch_op.drop_column("abort_requested_at")
        batch_op.drop_column("concurrency_max")
        batch_op.drop_column("concurrency_group")
        batch_op.drop_column("lease_expires")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("request")
