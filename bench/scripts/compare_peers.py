#!/usr/bin/env python3
"""Time edgeq against LiteRT (XNNPACK on and off) and ONNX Runtime on the MLPerf Tiny int8
models, single thread, batch 1, in one run, and print the ratios.

Usage (from the repository root, after `cargo build --release -p edgeq-convert -p edgeq-bench`):

    pip install ai-edge-litert onnxruntime numpy
    python3 bench/scripts/compare_peers.py [--runs 500] [--warmup 50] [--onnx-dir DIR]

ONNX models default to ../shared/models/mlperf-tiny/onnx (not bundled: they are only needed
for this comparison). Every peer is timed the same way: `min` and `p50` over --runs
invocations after --warmup, the clock read around the invoke call alone. edgeq is timed by
`edgeq-bench bench` (same protocol, in Rust). Runtimes take turns model by model, so a
noisy neighbour hurts all of them alike. Nothing here downloads anything.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "examples/data/mlperf-tiny/models")
# name -> (tflite file, onnx file)
CASES = {
    "IC (ResNet-8)": ("pretrainedResnet_quant.tflite", "pretrainedResnet_quant.onnx"),
    "KWS (DS-CNN)": ("kws_ref_model.tflite", "kws_ref_model.onnx"),
    "VWW (MobileNetV1 0.25)": ("vww_96_int8.tflite", "vww_96_int8.onnx"),
    "AD (FC autoencoder)": ("ad01_int8.tflite", "ad01_int8.onnx"),
}


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e3)
    return {"min": min(samples), "p50": statistics.median(samples)}


def litert(path, runs, warmup, xnnpack):
    from ai_edge_litert import interpreter as lite

    resolver = (
        lite.OpResolverType.BUILTIN
        if xnnpack
        else lite.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    it = lite.Interpreter(
        model_path=path, num_threads=1, experimental_op_resolver_type=resolver
    )
    it.allocate_tensors()
    d = it.get_input_details()[0]
    x = np.random.default_rng(0).integers(-128, 128, d["shape"]).astype(d["dtype"])
    it.set_tensor(d["index"], x)
    return timed(it.invoke, runs, warmup)


def onnxruntime(path, runs, warmup):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    dtype = {"tensor(int8)": np.int8, "tensor(uint8)": np.uint8}.get(inp.type, np.float32)
    rng = np.random.default_rng(0)
    if dtype == np.float32:
        x = rng.standard_normal(shape).astype(np.float32)
    else:
        x = rng.integers(0, 127, shape).astype(dtype)
    feed = {inp.name: x}
    return timed(lambda: sess.run(None, feed), runs, warmup)


def edgeq(tflite, runs, warmup, tmp):
    eqm = os.path.join(tmp, os.path.basename(tflite) + ".eqm")
    report = os.path.join(tmp, "report.json")
    subprocess.run(
        [os.path.join(ROOT, "target/release/edgeq-convert"), "import", tflite, "-o", eqm],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            os.path.join(ROOT, "target/release/edgeq-bench"),
            "bench", eqm, "--runs", str(runs), "--warmup", str(warmup), "--json", report,
        ],
        check=True,
        capture_output=True,
    )
    with open(report) as f:
        r = json.load(f)
    return {"min": r["us"]["min"], "p50": r["us"]["p50"], "isa": r["isa"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument(
        "--onnx-dir", default=os.path.join(ROOT, "../shared/models/mlperf-tiny/onnx")
    )
    ap.add_argument("--json", help="also write all timings here")
    args = ap.parse_args()
    if args.runs < 200:
        sys.exit("--runs must be at least 200 (the comparison reports min over >= 200 runs)")

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (tfl, onnx) in CASES.items():
            tflite = os.path.join(MODELS, tfl)
            row = {
                "edgeq": edgeq(tflite, args.runs, args.warmup, tmp),
                "litert_xnnpack": litert(tflite, args.runs, args.warmup, True),
                "litert_no_xnnpack": litert(tflite, args.runs, args.warmup, False),
            }
            onnx_path = os.path.join(args.onnx_dir, onnx)
            if os.path.exists(onnx_path):
                row["onnxruntime"] = onnxruntime(onnx_path, args.runs, args.warmup)
            else:
                print(f"note: {onnx_path} not found; ONNX Runtime skipped for {name}")
            results[name] = row
            print(f"done: {name}", file=sys.stderr)

    cols = ["edgeq", "litert_xnnpack", "litert_no_xnnpack", "onnxruntime"]
    print(f"single thread, batch 1, min (p50) us over {args.runs} runs after {args.warmup} warm-up")
    print(f"| model | {' | '.join(cols)} | edgeq / best peer |")
    print("|---|" + "---:|" * (len(cols) + 1))
    for name, row in results.items():
        cells = []
        for c in cols:
            t = row.get(c)
            cells.append(f"{t['min']:.1f} ({t['p50']:.1f})" if t else "-")
        peers = [row[c]["min"] for c in ("litert_xnnpack", "onnxruntime") if c in row]
        best = min(peers)
        ratio = row["edgeq"]["min"] / best
        print(f"| {name} | {' | '.join(cells)} | {ratio:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
