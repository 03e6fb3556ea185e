"""hanota.ssi."""
