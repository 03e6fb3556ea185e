"""Every request the DSP serves is on record (`service_requests`), whatever its SRV and answer, so the SSI
lists it and billing counts it."""

from __future__ import annotations

import crafted as c
from api.conftest import Live
from api.test_service_d import answer
from duisclient import request, signed, signer_for
from hanota.duis.requests import ReadInventory, UpdateDeviceDetails, UpdateInventory
from hanota.ssi.billing import billing_rows


def test_every_request_served_is_on_record_and_billed(live: Live) -> None:
    """Successful 8.2/8.4 (like 11.4 and refused requests) are recorded, so billing counts every SRV."""
    s1 = signer_for(live.pki, c.S1)
    assert answer(live, signed(s1, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK))))[0] == "I0"
    record = UpdateInventory(c.I_NOFW, UpdateDeviceDetails(firmware_version=c.OLD_VERSION))
    assert answer(live, signed(s1, request(c.S1, "8.4", record)))[0] == "I0"
    assert answer(live, signed(s1, request(c.S1, "8.4", UpdateInventory("BB-00-00-00-00-00-09-09",
                                                                         UpdateDeviceDetails(firmware_version="01")))))[0] == "E19"  # fmt: skip
    with live.engine.connect() as conn:
        rows = billing_rows(conn, user=c.S1)
    counts = {r.srv: (r.requests, r.requests_accepted) for r in rows}
    assert counts == {"8.2": (1, 1), "8.4": (2, 1)}
