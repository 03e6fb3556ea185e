"""The DSP service's dispatch table: each served SR body type has exactly the handler it had in the
`isinstance` chain, and the 11.4/11.1 handler confirms a pre-validated classification instead of classifying
again inside the write transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import crafted as c
import hanota.dsp.service as service
from duisclient import request
from hanota.duis.requests import (
    BODY_TYPES,
    DevicePrenotification,
    ReadInventory,
    UpdateFirmware,
    UpdateInventory,
    UpdatePPMIDFirmware,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_every_served_srv_body_has_its_handler() -> None:
    """8.2 reads, 8.4 updates the inventory, 12.2 prenotifies, 11.4 and 11.1 share the firmware handler."""
    expected = {
        ReadInventory: service._read_inventory,
        UpdateInventory: service._update_inventory,
        DevicePrenotification: service._prenotify,
        UpdatePPMIDFirmware: service._update_firmware,
        UpdateFirmware: service._update_firmware,
    }
    assert {body_type: service.handler_for(body_type) for body_type in BODY_TYPES.values()} == expected


def test_a_body_type_without_a_handler_has_none_and_a_subclass_gets_its_base_handler() -> None:
    """What is not in the table is refused by `_dispatch` (E13, not served at this URL); a subclass of a served body
    is served as its base, as `isinstance` served it."""

    class Narrower(ReadInventory):
        pass

    assert service.handler_for(object) is None
    assert service.handler_for(Narrower) is service._read_inventory


@pytest.mark.parametrize("pre", [None, "classified before the transaction"])
def test_the_firmware_handler_confirms_a_prevalidated_classification(
    monkeypatch: pytest.MonkeyPatch, pre: str | None
) -> None:
    """With `pre` the handler confirms it and never classifies again; without, it classifies (`validate`)."""
    calls: list[tuple[str, Any]] = []

    class V:
        response_code = "I0"

        def lists(self) -> dict[str, tuple[str, ...]]:
            return {}

    def confirm(conn: object, p: object, *, sender: str) -> V:
        calls.append(("confirm", p))
        return V()

    def validate(sr: object, conn: object, **kw: Any) -> V:
        calls.append(("validate", kw["device_ids"]))
        return V()

    def record(conn: object, v: V, **kw: Any) -> int:
        calls.append(("record", kw["firmware_version"]))
        return 1

    monkeypatch.setattr(service, "confirm", confirm)
    monkeypatch.setattr(service, "validate", validate)
    monkeypatch.setattr(service, "record", record)
    req = request(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_OK,)))
    handler = service.handler_for(UpdatePPMIDFirmware)
    assert handler is not None
    payload, code = handler(None, req, NOW, pre)  # type: ignore[arg-type]
    first = ("confirm", pre) if pre is not None else ("validate", (c.P_OK,))
    assert calls == [first, ("record", c.NEW_VERSION)]
    assert (payload, code) == (None, "I0")
