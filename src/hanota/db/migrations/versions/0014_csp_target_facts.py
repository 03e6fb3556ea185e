"""CSP target facts: each queued target's hub region and hardware version, as the DSP→CSP file says

The CSP side keeps what it needs about a target in its own `csp_targets` (issue 14: the CSP boundary holds):
the CSP region of the target's Comms Hub (`4G <region>` for a 4G hub, which the network model carries over
the region's 4G WAN link) and the device's hardware version, both sent in the distribution file, instead of
reading the DSP's `comms_hubs` and `devices` tables.

Backfill of an existing store (where the gateways shared the DSP's database): from `comms_hubs` and
`devices`, which is what the runner read until now; a target whose hub or device is not there keeps NULL
(the runner's reading of "not known", as before).

Downgrade: the two columns are dropped.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("csp_targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hub_region", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("hardware_version", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE csp_targets SET "
        "hub_region = (SELECT h.region FROM comms_hubs h WHERE h.chf_id = csp_targets.chf_id), "
        "hardware_version = (SELECT d.hardware_version FROM devices d WHERE d.device_id = csp_targets.device_id) "
        "WHERE hub_region IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("csp_targets", schema=None) as batch_op:
        batch_op.drop_column("hardware_version")
        batch_op.drop_column("hub_region")
