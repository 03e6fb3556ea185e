"""hanota.api."""
