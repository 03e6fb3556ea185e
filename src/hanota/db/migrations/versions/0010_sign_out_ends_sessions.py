"""sign-out ends sessions: web_credentials.sessions_after

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hanota.db.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("web_credentials", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sessions_after", hanota.db.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("web_credentials", schema=None) as batch_op:
        batch_op.drop_column("sessions_after")
