"""hanota.dsp."""
