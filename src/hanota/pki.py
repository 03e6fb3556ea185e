"""Where the DSP's response-signing identity is recorded: the two `settings` rows naming its key and its
certificate file.

`hanota.estate.pki` writes them (`hanota pki init`, `hanota pki trust-dccboxed`) and `hanota.dsp.trust`
reads them; they live here so that the DSP does not import the test-PKI generator to know where to look.
"""

from __future__ import annotations

from typing import Final

DSP_KEY_SETTING: Final = "dsp_signing_key"
DSP_CERT_SETTING: Final = "dsp_signing_cert"
