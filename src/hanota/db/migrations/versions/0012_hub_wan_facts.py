"""hub WAN facts: each Comms Hub's CHTS version, HAN variant and connectivity; CSP regions wide enough for 4G

`comms_hubs.region` and `request_devices.region` hold the CSP region DUIS reports, which for a 4G Comms Hub
is `4G North|Central|South` (10 characters, more than the 8 they had).

Backfill of an existing store (which has no 4G hubs): the CHTS version follows the hub's GBCS version as the
estate does (`hanota.estate.catalogue.CHTS_VERSION_OF_GBCS`: GBCS 4.2 → CHTS V1.4, the pair a DCC Boxed
answer reports; otherwise CHTS V1.2, ASSUMED), every hub is single band (nothing recorded says otherwise),
and the connectivity is Cellular except for a long-range-radio hub in the North (no Connectivity value).

Downgrade: the older schema cannot say "4G": a 4G hub (and a request device on one) goes back to its
geographic region, and the three facts are dropped.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_4G = ("4G North", "4G Central", "4G South")


def upgrade() -> None:
    with op.batch_alter_table("comms_hubs", schema=None) as batch_op:
        batch_op.alter_column(
            "region", existing_type=sa.String(length=8), type_=sa.String(length=16), existing_nullable=False
        )
        batch_op.add_column(sa.Column("chts_version", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("han_variant", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("connectivity", sa.String(length=16), nullable=True))
    with op.batch_alter_table("request_devices", schema=None) as batch_op:
        batch_op.alter_column(
            "region", existing_type=sa.String(length=8), type_=sa.String(length=16), existing_nullable=True
        )
    op.execute(
        "UPDATE comms_hubs SET "
        "chts_version = CASE WHEN gbcs_version = '4.2' THEN 'CHTS V1.4' ELSE 'CHTS V1.2' END, "
        "han_variant = 'Single Band', "
        "connectivity = CASE WHEN region = 'North' THEN NULL ELSE 'Cellular' END "
        "WHERE chts_version IS NULL"
    )


def downgrade() -> None:
    for table in ("comms_hubs", "request_devices"):
        for name in _4G:
            op.execute(
                sa.text(f"UPDATE {table} SET region = :geo WHERE region = :r").bindparams(  # noqa: S608
                    geo=name.removeprefix("4G "), r=name
                )
            )
    with op.batch_alter_table("request_devices", schema=None) as batch_op:
        batch_op.alter_column(
            "region", existing_type=sa.String(length=16), type_=sa.String(length=8), existing_nullable=True
        )
    with op.batch_alter_table("comms_hubs", schema=None) as batch_op:
        batch_op.drop_column("connectivity")
        batch_op.drop_column("han_variant")
        batch_op.drop_column("chts_version")
        batch_op.alter_column(
            "region", existing_type=sa.String(length=16), type_=sa.String(length=8), existing_nullable=False
        )
