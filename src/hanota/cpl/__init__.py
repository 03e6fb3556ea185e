"""hanota.cpl."""
