"""Inference: each shipped model in NumPy against onnxruntime running the very same weights.

The model file is exported to ONNX here, node by node from its arrays (Conv, MaxPool, Relu, Gemm,
Softmax...), so both sides compute the same function; the script checks that their probabilities
agree before timing anything. Run from the repository root:

    python -m benchmarks.inference [--threads 1] [--repeats 2000] [--models cnn old/cnn.npz]
        [--baseline old/cnn.npz]

`--models` takes shipped models' names or model files. `--baseline FILE` times that model's NumPy
forward pass in the same alternating blocks as each model's, and adds their ratio: how much a new
network costs against an old one, measured under the same load.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from app.nn.network import Model, load_model
from benchmarks.common import (
    ROOT,
    add_malloc_option,
    describe_machine,
    fmt_time,
    interleaved,
    mnist_inputs,
    table,
    tune_malloc,
)

MODELS = ("cnn", "mlp", "logreg")
BATCHES = (1, 256)
ONNX_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}


def to_onnx(model: Model) -> bytes:
    """The model as an ONNX graph: input (B, 28, 28, 1) float32 NHWC, output (B, 10) probabilities.

    ONNX convolutions are NCHW: the input is transposed once before the first convolution, kernels
    (k, k, C, F) become (F, C, k, k), and the dense layer after a flatten gets its rows reordered
    from (H, W, C) to (C, H, W) order, so no transpose is needed on the way back.
    """
    from onnx import TensorProto, helper, numpy_helper

    network = model.network
    nodes, weights = [], []
    current, layout = "input", "NHWC"
    shape = network.arch.input_shape  # one example's shape in NumPy's (H, W, C) terms
    flattened_from: tuple[int, ...] | None = None

    def add(op: str, inputs: list[str], name: str, **attrs: object) -> None:
        nonlocal current
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        current = name

    def weight(name: str, value: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    for spec, layer, out_shape in zip(network.arch.layers, network.layers, network.shapes, strict=True):
        if spec.kind == "conv":
            if layout == "NHWC":
                add("Transpose", [current], "to_nchw", perm=[0, 3, 1, 2])
                layout = "NCHW"
            w = weight(f"{spec.name}.W", layer.params["W"].transpose(3, 2, 0, 1))
            b = weight(f"{spec.name}.b", layer.params["b"])
            add("Conv", [current, w, b], spec.name, kernel_shape=[spec.config["kernel"]] * 2)
        elif spec.kind == "pool":
            size = spec.config.get("size", 2)
            add("MaxPool", [current], spec.name, kernel_shape=[size, size], strides=[size, size])
        elif spec.kind in ONNX_ACTIVATIONS:
            add(ONNX_ACTIVATIONS[spec.kind], [current], spec.name)
        elif spec.kind == "flatten":
            flattened_from = shape if layout == "NCHW" else None
            add("Flatten", [current], spec.name, axis=1)
        elif spec.kind == "dense":
            w_array = layer.params["W"]
            if flattened_from is not None:  # rows in (H, W, C) order -> (C, H, W), as NCHW flattens
                h, w_, c = flattened_from
                w_array = w_array.reshape(h, w_, c, -1).transpose(2, 0, 1, 3).reshape(h * w_ * c, -1)
                flattened_from = None
            w = weight(f"{spec.name}.W", w_array)
            b = weight(f"{spec.name}.b", layer.params["b"])
            add("Gemm", [current, w, b], spec.name)
        elif spec.kind != "dropout":  # dropout is the identity at inference
            raise ValueError(f"no ONNX export for layer kind {spec.kind!r}")
        shape = out_shape
    add("Softmax", [current], "probabilities", axis=-1)
    graph = helper.make_graph(
        nodes,
        f"digitpad-{model.name}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *network.arch.input_shape])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        weights,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_model.ir_version = 8
    from onnx import checker

    checker.check_model(onnx_model)
    return onnx_model.SerializeToString()


def session(onnx_bytes: bytes, threads: int):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for both NumPy's BLAS and onnxruntime")
    parser.add_argument(
        "--repeats", type=int, default=2000, help="timed calls per side for one image (a tenth of that for a batch)"
    )
    parser.add_argument("--models", nargs="*", default=MODELS, help="shipped models' names or model files")
    parser.add_argument("--baseline", type=Path, help="a model file each NumPy forward pass is also timed against")
    add_malloc_option(parser)
    args = parser.parse_args(argv)
    malloc = tune_malloc(args)

    import onnxruntime as ort
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    inputs, _ = mnist_inputs(max(BATCHES))
    baseline = load_model(args.baseline) if args.baseline else None
    rows = []
    for name in args.models:
        path = Path(name) if name.endswith(".npz") else ROOT / "model" / f"{name}.npz"
        if not path.is_file():
            print(f"(skipping {name}: {path} is not there)", file=sys.stderr)
            continue
        model = load_model(path)
        sess = session(to_onnx(model), args.threads)
        for batch in BATCHES:
            x = np.ascontiguousarray(inputs[:batch])
            ours = model.network.predict_proba(x)
            theirs = sess.run(None, {"input": x})[0]
            diff = float(np.abs(ours - theirs).max())
            if diff > 1e-4 or not np.array_equal(ours.argmax(1), theirs.argmax(1)):
                raise SystemExit(f"{name}: NumPy and onnxruntime disagree (max difference {diff:.2g})")
            repeats = max(20, args.repeats // (10 if batch > 1 else 1))
            contenders = {
                "numpy": lambda x=x, net=model.network: net.predict_proba(x),
                "onnxruntime": lambda x=x, sess=sess: sess.run(None, {"input": x}),
            }
            if baseline is not None:
                contenders["baseline"] = lambda x=x, net=baseline.network: net.predict_proba(x)
            medians = interleaved(contenders, repeats)
            ratio = medians["numpy"] / medians["onnxruntime"]
            row = [name, batch, fmt_time(medians["numpy"]), fmt_time(medians["onnxruntime"]), f"{ratio:.2f}"]
            if baseline is not None:
                row += [fmt_time(medians["baseline"]), f"{medians['numpy'] / medians['baseline']:.2f}"]
            rows.append([*row, f"{diff:.1e}"])
    headers = ["model", "batch", "NumPy", "onnxruntime", "NumPy / ORT"]
    if baseline is not None:
        headers += ["baseline", "NumPy / baseline"]
    print(f"## Inference: NumPy vs onnxruntime {ort.__version__}, {args.threads} thread(s)\n")
    print(describe_machine(malloc) + "\n")
    if baseline is not None:
        print(f"baseline: {args.baseline} ({baseline.network.parameter_count:,} parameters)\n")
    print(table([*headers, "max p diff"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
