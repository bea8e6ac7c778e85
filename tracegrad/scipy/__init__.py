"""``tracegrad.scipy``: the SciPy functions tracegrad can trace (``special``, ``stats``), and
the routes (``routing``) by which SciPy's own functions reach them when given traced arrays.
Importing this package does not import SciPy; the routes are installed as a trace starts, for
the SciPy modules loaded by then (routing.install).
"""
from __future__ import annotations

from . import routing, special, stats  # noqa: F401
