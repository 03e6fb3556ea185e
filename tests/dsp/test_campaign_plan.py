"""The estate's demo campaigns (`hanota.estate.campaign.plan`) list devices that need the update."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from hanota.clock import SystemClock
from hanota.dsp.update_firmware import ALREADY_ON_VERSION, FIRMWARE_SRS, validate
from hanota.estate.campaign import plan
from hanota.estate.catalogue import models_of
from hanota.estate.generate import generate
from hanota.inventory.interest import INTERESTED_FROM, now_param


@pytest.mark.parametrize("device_type", ["IHD", "PPMID", "ESME"])
def test_a_campaign_lists_no_device_already_on_its_release(engine: Engine, device_type: str) -> None:
    """The estate has devices of the model on the campaign's release, among them the sender's; none is listed,
    every other device of the model the sender supplies is, and the DSP excludes none as same-version."""
    generate(engine, homes=400, seed=5)
    now = SystemClock().now()
    model = models_of(device_type)[0]
    campaign = plan(engine, model, 100_000, now, seed=2)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT DISTINCT d.device_id, d.firmware_version {INTERESTED_FROM} "
                "WHERE d.device_type = :type AND d.manufacturer = :mfr AND d.model = :model "
                "AND r.supplier_eui = :sender"
            ).bindparams(now_param()),
            {"type": model.device_type, "mfr": model.manufacturer, "model": model.model,
             "sender": campaign.sender, "now": now},
        ).all()  # fmt: skip
    on_release = {d for d, v in rows if v == campaign.firmware_version}
    assert on_release, "the estate must hold devices of the sender already on the release"
    assert set(campaign.device_ids) == {d for d, _ in rows} - on_release
    with engine.begin() as conn:
        v = validate(FIRMWARE_SRS[campaign.srv], conn, sender=campaign.sender, image_bytes=campaign.image,
                     firmware_version=campaign.firmware_version, device_ids=campaign.device_ids, now=now)  # fmt: skip
    assert v.accepted
    assert not [o for o in v.outcomes if o.reason and ALREADY_ON_VERSION in o.reason]
