"""headroom's benchmarks: latency against its targets, and retrieval quality.

Run ``python -m benchmarks`` (full) or ``python -m benchmarks --quick`` from the repository
root; the report lands in ``benchmarks/results/latest.{md,json}``. ``docs/performance.md``
explains the numbers. Generated corpora and embeddings are cached under ``benchmarks/.cache``.
"""
