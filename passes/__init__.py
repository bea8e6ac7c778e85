"""Graph passes: pure ``Graph -> Graph`` functions run by named pipelines (see registry.py)."""
from .registry import (PASSES, PIPELINES, DumpInstrument, Instrument, TimingInstrument,  # noqa
                       VerifyInstrument, register, run_pipeline)
