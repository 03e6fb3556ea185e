"""gateway engine generations: a gateway starts a fresh network engine once the old one is idle

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("csp_distributions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("engine_generation", sa.Integer(), nullable=True))
    with op.batch_alter_table("csp_gateway_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("csp_gateway_state", schema=None) as batch_op:
        batch_op.drop_column("generation")
    with op.batch_alter_table("csp_distributions", schema=None) as batch_op:
        batch_op.drop_column("engine_generation")
