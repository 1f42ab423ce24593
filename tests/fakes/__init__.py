"""Fake vendor modules (pynvml, amdsmi) passed to meters in place of the real ones."""
