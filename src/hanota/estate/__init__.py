"""hanota.estate."""
