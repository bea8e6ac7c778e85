"""The package version, in a module of its own so that any layer (the C runtime's cache key,
the CLI) can read it without importing the package's front (tests/test_layering.py)."""
__version__ = "0.1.0"
