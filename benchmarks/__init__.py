"""tracegrad benchmarks: workloads W1-W6 of shared/BENCHMARKS.md, run with ``python -m benchmarks``."""
