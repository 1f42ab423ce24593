"""The ``impactlib`` command line: one module per command, each exposing ``register(app)``."""
