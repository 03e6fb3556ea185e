"""bounded retries: dead letters and per-recipient backoff for alerts, jobs and CSP event batches

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hanota.db.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tries", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("last_attempt_at", hanota.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("dead_at", hanota.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_alert_outbox_dead", ["dead_at"], unique=False)
    op.create_table(
        "alert_recipients",
        sa.Column("recipient_eui", sa.String(length=23), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("paused_until", hanota.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failing_since", hanota.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("recipient_eui", name=op.f("pk_alert_recipients")),
    )
    with op.batch_alter_table("distribution_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failing_since", hanota.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("dead_at", hanota.db.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("csp_event_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("next_attempt_at", hanota.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("failing_since", hanota.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("dead_at", hanota.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("csp_event_batches", schema=None) as batch_op:
        batch_op.drop_column("dead_at")
        batch_op.drop_column("failing_since")
        batch_op.drop_column("next_attempt_at")
    with op.batch_alter_table("distribution_jobs", schema=None) as batch_op:
        batch_op.drop_column("dead_at")
        batch_op.drop_column("failing_since")
    op.drop_table("alert_recipients")
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_outbox_dead")
        batch_op.drop_column("dead_at")
        batch_op.drop_column("last_attempt_at")
        batch_op.drop_column("tries")
