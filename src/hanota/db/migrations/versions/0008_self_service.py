"""self service interface (issue 7)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hanota.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_credentials",
        sa.Column("eui", sa.String(length=23), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("updated_at", hanota.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("locked_until", hanota.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("eui", name=op.f("pk_web_credentials")),
    )
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_alert_outbox_recipient_id", ["recipient_eui", "id"], unique=False)
    with op.batch_alter_table("premises", schema=None) as batch_op:
        batch_op.create_index("ix_premises_postcode", ["postcode"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("premises", schema=None) as batch_op:
        batch_op.drop_index("ix_premises_postcode")
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_outbox_recipient_id")
    op.drop_table("web_credentials")
