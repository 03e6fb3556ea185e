"""hanota.db."""
