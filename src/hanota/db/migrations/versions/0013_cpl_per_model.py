"""CPL entries per device model: one entry per (manufacturer, model, firmware version), not per version

The seed's A-005 ("the CPL will contain no more than one entry for a particular firmware version") is read
as one entry per firmware version OF A DEVICE MODEL: a version string names a model's firmware, and the
public DCC Boxed samples use `00000000` both for a PPMID image (SR 11.4) and for an ESME image (SR 11.1),
each listed for its own model. The unique key moves from `firmware_version` to
(`manufacturer`, `model`, `firmware_version`); lookups by version keep an index.

Downgrade: the older key cannot hold two models' entries for one version: for each version only the entry
with the lowest id is kept, the others are deleted (their devices then read "not on the CPL").

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cpl_entries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_cpl_entries_firmware_version", type_="unique")
        batch_op.create_unique_constraint(
            "uq_cpl_entries_manufacturer", ["manufacturer", "model", "firmware_version"]
        )
        batch_op.create_index("ix_cpl_entries_firmware_version", ["firmware_version"], unique=False)


def downgrade() -> None:
    op.execute(
        "DELETE FROM cpl_entries WHERE id NOT IN (SELECT min(id) FROM cpl_entries GROUP BY firmware_version)"
    )
    with op.batch_alter_table("cpl_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_cpl_entries_firmware_version")
        batch_op.drop_constraint("uq_cpl_entries_manufacturer", type_="unique")
        batch_op.create_unique_constraint("uq_cpl_entries_firmware_version", ["firmware_version"])
