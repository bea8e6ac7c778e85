"""Graph passes: pure ``Graph -> Graph`` functions run by named pipelines (see registry.py)."""
from .registry import PASSES, PIPELINES, run_pipeline  # noqa: F401
