"""CSP delivery events and alert delivery (issue 5)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hanota.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("csp_distributions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("engine_seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("engine_at_s", sa.Float(), nullable=True))
    op.create_table(
        "csp_gateway_state",
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("epoch", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("reported_until_s", sa.Float(), nullable=False),
        sa.Column("next_batch_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region", name=op.f("pk_csp_gateway_state")),
    )
    op.create_table(
        "csp_event_batches",
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("sent_at", hanota.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("region", "seq", name=op.f("pk_csp_event_batches")),
    )
    with op.batch_alter_table("csp_event_batches", schema=None) as batch_op:
        batch_op.create_index("ix_csp_event_batches_unsent", ["region", "sent_at"], unique=False)
    op.create_table(
        "csp_event_cursors",
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("region", name=op.f("pk_csp_event_cursors")),
    )


def downgrade() -> None:
    op.drop_table("csp_event_cursors")
    with op.batch_alter_table("csp_event_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_csp_event_batches_unsent")
    op.drop_table("csp_event_batches")
    op.drop_table("csp_gateway_state")
    with op.batch_alter_table("csp_distributions", schema=None) as batch_op:
        batch_op.drop_column("engine_at_s")
        batch_op.drop_column("engine_seq")
