"""The inventory learns a device's new firmware version when a firmware update activates on it, and keeps
the version it replaced in `firmware_history` (`hanota.inventory.firmware`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

import crafted as c
from hanota.db.models import Device, FirmwareHistory
from hanota.inventory.firmware import Activation, record_activated_firmware


def _versions(engine: Engine, *ids: str) -> dict[str, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Device.device_id, Device.firmware_version).where(Device.device_id.in_(ids))
        )
        return dict(rows.all())


def _history(engine: Engine) -> list[tuple[str, str, str | None, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(FirmwareHistory.device_id, FirmwareHistory.firmware_version,
                   FirmwareHistory.previous_version, FirmwareHistory.source).order_by(FirmwareHistory.id)
        )  # fmt: skip
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_an_activation_records_the_new_version_and_the_old_one_in_the_history(engine: Engine) -> None:
    """Each activated device runs the new version afterwards, with one history row naming the version it
    replaced, when and why; a device not in the list keeps its version."""
    c.build(engine)
    record = [Activation(c.P_OK, c.NEW_VERSION, c.NOW, "SR 11.4 a:b:1"),
              Activation(c.I_NOFW, c.NEW_VERSION, c.NOW, "SR 11.4 a:b:1")]  # fmt: skip
    with engine.begin() as conn:
        record_activated_firmware(conn, record)
    assert _versions(engine, c.P_OK, c.I_NOFW, c.I_OK) == {
        c.P_OK: c.NEW_VERSION, c.I_NOFW: c.NEW_VERSION, c.I_OK: c.OLD_VERSION,
    }  # fmt: skip
    assert _history(engine) == [
        (c.P_OK, c.NEW_VERSION, c.OLD_VERSION, "SR 11.4 a:b:1"),
        (c.I_NOFW, c.NEW_VERSION, None, "SR 11.4 a:b:1"),
    ]
    with engine.connect() as conn:
        assert set(conn.execute(select(FirmwareHistory.recorded_at)).scalars()) == {c.NOW}


def test_a_device_already_on_the_version_records_no_change(engine: Engine) -> None:
    """Two suppliers' requests for one device are both forwarded (A-008): the second activation of the same
    version, in the same list or a later one, changes nothing and adds no history row."""
    c.build(engine)
    later = c.NOW + timedelta(hours=1)
    with engine.begin() as conn:
        record_activated_firmware(conn, [Activation(c.P_OK, c.NEW_VERSION, c.NOW, "SR 11.4 s1:x:1"),
                                         Activation(c.P_OK, c.NEW_VERSION, c.NOW, "SR 11.4 s2:x:1")])  # fmt: skip
    with engine.begin() as conn:
        record_activated_firmware(conn, [Activation(c.P_OK, c.NEW_VERSION, later, "SR 11.4 s2:x:2")])
        record_activated_firmware(conn, [])
    assert _versions(engine, c.P_OK) == {c.P_OK: c.NEW_VERSION}
    assert _history(engine) == [(c.P_OK, c.NEW_VERSION, c.OLD_VERSION, "SR 11.4 s1:x:1")]


def test_two_versions_in_one_list_are_recorded_in_their_order(engine: Engine) -> None:
    """Of two activations of one device in a list, the second is judged against the version the first left:
    two history rows, the device on the last version."""
    c.build(engine)
    with engine.begin() as conn:
        record_activated_firmware(conn, [Activation(c.P_OK, c.NEW_VERSION, c.NOW, "SR 11.4 a:b:1"),
                                         Activation(c.P_OK, c.STUCK_VERSION, c.NOW, "SR 11.4 a:b:2")])  # fmt: skip
    assert _versions(engine, c.P_OK) == {c.P_OK: c.STUCK_VERSION}
    assert _history(engine) == [
        (c.P_OK, c.NEW_VERSION, c.OLD_VERSION, "SR 11.4 a:b:1"),
        (c.P_OK, c.STUCK_VERSION, c.NEW_VERSION, "SR 11.4 a:b:2"),
    ]
