"""hanota.csp."""
