"""The `hanota sr` commands end to end: a supplier builds, signs and submits an SR to a live DSP over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import crafted as c
from api.conftest import Live


def test_sr_build_sign_submit_commands(live: Live, tmp_path: Path) -> None:
    """A supplier drives the DSP with the hanota command alone."""
    stem = c.S1.replace("-", "")
    env = {**os.environ, "HANOTA_DATA_DIR": str(tmp_path / "client")}
    run = [sys.executable, "-m", "hanota.cli.main"]
    image = tmp_path / "fw.bin"
    image.write_bytes(c.NEW_IMAGE)
    subprocess.run([*run, "sr", "build", "11.4", "--originator", c.S1, "--counter", "77", "--image", str(image),
                    "--firmware-version", c.NEW_VERSION, "--device", c.P_OK, "--device", c.UNKNOWN,
                    "-o", str(tmp_path / "req.xml")], check=True, env=env)  # fmt: skip
    subprocess.run([*run, "sr", "sign", "--key", str(live.pki / "users" / f"{stem}.key.pem"),
                    "--cert", str(live.pki / "users" / f"{stem}.pem"), str(tmp_path / "req.xml"),
                    "-o", str(tmp_path / "req.signed.xml")], check=True, env=env)  # fmt: skip
    out = subprocess.run([*run, "sr", "submit", live.url, str(tmp_path / "req.signed.xml"),
                          "--dsp-cert", str(live.pki / "dsp.pem")], check=True, env=env, capture_output=True,
                         text=True).stdout  # fmt: skip
    assert "W110401" in out and "signature verified" in out
    assert "InvalidDeviceIDList: 1" in out
