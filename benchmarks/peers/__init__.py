"""``make bench-peers``: the same workload through headroom, mem0 and Chroma. Not in CI.

``python -m benchmarks.peers`` builds its own environment (benchmarks/peers/.venv) with
headroom, ``mem0ai`` + ``faiss-cpu`` and ``chromadb``, runs :mod:`benchmarks.peers.worker` there
once per engine, and writes benchmarks/results/peers.{md,json}. An engine that cannot be
installed or run is reported as such; the others go on.
"""
