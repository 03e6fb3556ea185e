"""hanota.supplier: tools that play the supplier's side, never imported by the product (the DSP side).

- `receiver`: a sample supplier endpoint for DCC Alerts, what ``hanota alerts receive`` runs and what
  ``hanota demo`` uses as the suppliers' alert endpoint: it verifies, validates, deduplicates and keeps every
  alert the DSP pushes.

The supplier side talks to the DSP only over the wire (DUIS documents, signed and verified with
`hanota.duis`); the campaign manager of issues 17/18 is to live here too.
"""
