"""hanota.cli."""
