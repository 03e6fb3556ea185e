"""hanota: over-the-air firmware for GB smart-metering HAN devices (SEC modification SECMP0007)."""

__version__ = "0.1.0"
