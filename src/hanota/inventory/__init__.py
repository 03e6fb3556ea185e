"""hanota.inventory."""
