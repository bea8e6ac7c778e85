"""``python -m tracegrad``: the same command line as the ``tracegrad`` script."""
from __future__ import annotations

from tracegrad.cli import main

raise SystemExit(main())
