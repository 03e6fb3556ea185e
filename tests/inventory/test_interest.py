"""Who is interested in a device (domain §6): the ESME's import and the GSME's gas supplier on the hub."""

from __future__ import annotations

from sqlalchemy import Engine

import crafted as c
from hanota.inventory.interest import interested_suppliers, is_interested


def test_interested_suppliers_of_each_kind_of_device(engine: Engine) -> None:
    """A display's interested suppliers are the import supplier of its hub's ESME and the gas supplier of its
    GSME; a meter's only its own supplier; an ended registration gives no interest, and an unknown
    device has none."""
    c.build(engine)
    with engine.connect() as conn:
        got = interested_suppliers(
            conn, [c.P_OK, c.I_OK, c.E1, c.G1, c.P_NOTMINE, c.P_NOOTA, c.UNKNOWN], c.NOW
        )
        assert got == {
            c.P_OK: [c.S1, c.S2],  # displays on H1: import supplier S1 and gas supplier S2
            c.I_OK: [c.S1, c.S2],
            c.E1: [c.S1],  # a meter: only its own supplier
            c.G1: [c.S2],
            c.P_NOTMINE: [c.S3],  # S2's registration on H3 has ended
            c.P_NOOTA: [c.S1],
        }
        assert is_interested(conn, c.P_OK, c.S2, c.NOW)
        assert not is_interested(conn, c.P_NOTMINE, c.S2, c.NOW)
        assert not is_interested(conn, c.UNKNOWN, c.S1, c.NOW)
