"""The performance harness: losslang against the hand-written PyTorch losses it replaces.

Run it with ``python -m benchmarks.run`` (``--quick`` for the smoke version); it writes
``benchmarks/REPORT.md``.
"""
