"""hanota.alerts."""
