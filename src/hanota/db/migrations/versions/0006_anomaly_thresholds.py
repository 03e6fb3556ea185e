"""anomaly thresholds and quarantine (issue 6)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hanota.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anomaly_dcc_policies",
        sa.Column("srv", sa.String(length=10), nullable=False),
        sa.Column("window_hours", sa.Integer(), nullable=False),
        sa.Column("default_max_requests", sa.Integer(), nullable=True),
        sa.Column("default_max_devices", sa.Integer(), nullable=True),
        sa.Column("cap_max_requests", sa.Integer(), nullable=True),
        sa.Column("cap_max_devices", sa.Integer(), nullable=True),
        sa.Column("dcc_max_requests", sa.Integer(), nullable=True),
        sa.Column("dcc_max_devices", sa.Integer(), nullable=True),
        sa.Column("max_image_bytes", sa.Integer(), nullable=True),
        sa.Column("max_devices_per_request", sa.Integer(), nullable=True),
        sa.Column("updated_at", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=23), nullable=False),
        sa.PrimaryKeyConstraint("srv", name=op.f("pk_anomaly_dcc_policies")),
    )
    op.create_table(
        "anomaly_user_thresholds",
        sa.Column("user_eui", sa.String(length=23), nullable=False),
        sa.Column("srv", sa.String(length=10), nullable=False),
        sa.Column("max_requests", sa.Integer(), nullable=True),
        sa.Column("max_devices", sa.Integer(), nullable=True),
        sa.Column("window_hours", sa.Integer(), nullable=False),
        sa.Column("updated_at", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=23), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_eui"], ["users.eui"], name=op.f("fk_anomaly_user_thresholds_user_eui_users")
        ),
        sa.PrimaryKeyConstraint("user_eui", "srv", name=op.f("pk_anomaly_user_thresholds")),
    )
    op.create_table(
        "anomaly_meters",
        sa.Column("subject", sa.String(length=23), nullable=False),
        sa.Column("srv", sa.String(length=10), nullable=False),
        sa.Column("hour", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requests_total", sa.BigInteger(), nullable=False),
        sa.Column("devices_total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "srv", name=op.f("pk_anomaly_meters")),
    )
    op.create_table(
        "anomaly_usage",
        sa.Column("subject", sa.String(length=23), nullable=False),
        sa.Column("srv", sa.String(length=10), nullable=False),
        sa.Column("hour", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "srv", "hour", name=op.f("pk_anomaly_usage")),
    )
    op.create_table(
        "quarantined_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=80), nullable=False),
        sa.Column("originator_eui", sa.String(length=23), nullable=False),
        sa.Column("srv", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("device_count", sa.Integer(), nullable=False),
        sa.Column("image_size", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", hanota.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=23), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("outcome_code", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantined_requests")),
        sa.UniqueConstraint("request_id", name=op.f("uq_quarantined_requests_request_id")),
    )
    with op.batch_alter_table("quarantined_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quarantined_requests_originator_eui"), ["originator_eui"], unique=False
        )
        batch_op.create_index(
            "ix_quarantined_requests_status_received", ["status", "received_at"], unique=False
        )
    op.create_table(
        "anomaly_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_eui", sa.String(length=23), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomaly_audit")),
    )
    with op.batch_alter_table("anomaly_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_anomaly_audit_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_anomaly_audit_target"), ["target"], unique=False)
    op.create_table(
        "anomaly_api_tokens",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_eui", sa.String(length=23), nullable=False),
        sa.Column("created_at", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("revoked_at", hanota.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_eui"], ["users.eui"], name=op.f("fk_anomaly_api_tokens_user_eui_users")
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_anomaly_api_tokens")),
    )
    with op.batch_alter_table("anomaly_api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_anomaly_api_tokens_user_eui"), ["user_eui"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("anomaly_api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anomaly_api_tokens_user_eui"))
    op.drop_table("anomaly_api_tokens")
    with op.batch_alter_table("anomaly_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anomaly_audit_target"))
        batch_op.drop_index(batch_op.f("ix_anomaly_audit_at"))
    op.drop_table("anomaly_audit")
    with op.batch_alter_table("quarantined_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantined_requests_status_received")
        batch_op.drop_index(batch_op.f("ix_quarantined_requests_originator_eui"))
    op.drop_table("quarantined_requests")
    op.drop_table("anomaly_usage")
    op.drop_table("anomaly_meters")
    op.drop_table("anomaly_user_thresholds")
    op.drop_table("anomaly_dcc_policies")
