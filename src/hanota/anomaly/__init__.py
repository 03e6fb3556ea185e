"""hanota.anomaly."""
