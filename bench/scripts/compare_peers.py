#!/usr/bin/env python3
"""Time edgeq against LiteRT (XNNPACK on and off) and ONNX Runtime on the MLPerf Tiny int8
models, single thread, batch 1, in one run, and print the ratios.

edgeq also runs a W4A4 model of each architecture (`edgeq-convert synth --bits w4a4`: random
but valid parameters, every layer at 4 bits) in the same turn, against the peers' int8 time
of the corresponding MLPerf model (--no-w4a4 skips it).

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
# name -> (tflite file, onnx file, `edgeq-convert synth` architecture)
CASES = {
    "IC (ResNet-8)": ("pretrainedResnet_quant.tflite", "pretrainedResnet_quant.onnx", "resnet8"),
    "KWS (DS-CNN)": ("kws_ref_model.tflite", "kws_ref_model.onnx", "ds-cnn"),
    "VWW (MobileNetV1 0.25)": ("vww_96_int8.tflite", "vww_96_int8.onnx", "mobilenet-v1"),
    "AD (FC autoencoder)": ("ad01_int8.tflite", "ad01_int8.onnx", "autoencoder"),
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
    convert(["import", tflite, "-o", eqm])
    return edgeq_bench(eqm, runs, warmup, tmp)


def edgeq_w4a4(arch, runs, warmup, tmp):
    eqm = os.path.join(tmp, arch + "-w4a4.eqm")
    convert(["synth", "--arch", arch, "--bits", "w4a4", "-o", eqm])
    return edgeq_bench(eqm, runs, warmup, tmp)


def convert(args):
    tool = os.path.join(ROOT, "target/release/edgeq-convert")
    subprocess.run([tool, *args], check=True, capture_output=True)


def edgeq_bench(eqm, runs, warmup, tmp):
    report = os.path.join(tmp, "report.json")
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
    ap.add_argument(
        "--no-w4a4", action="store_true", help="skip the W4A4 models of the same architectures"
    )
    args = ap.parse_args()
    if args.runs < 200:
        sys.exit("--runs must be at least 200 (the comparison reports min over >= 200 runs)")

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (tfl, onnx, arch) in CASES.items():
            tflite = os.path.join(MODELS, tfl)
            row = {
                "edgeq": edgeq(tflite, args.runs, args.warmup, tmp),
                "litert_xnnpack": litert(tflite, args.runs, args.warmup, True),
                "litert_no_xnnpack": litert(tflite, args.runs, args.warmup, False),
            }
            if not args.no_w4a4:
                row["edgeq_w4a4"] = edgeq_w4a4(arch, args.runs, args.warmup, tmp)
            onnx_path = os.path.join(args.onnx_dir, onnx)
            if os.path.exists(onnx_path):
                row["onnxruntime"] = onnxruntime(onnx_path, args.runs, args.warmup)
            else:
                print(f"note: {onnx_path} not found; ONNX Runtime skipped for {name}")
            results[name] = row
            print(f"done: {name}", file=sys.stderr)

    cols = ["edgeq", "litert_xnnpack", "litert_no_xnnpack", "onnxruntime"]
    if not args.no_w4a4:
        cols.append("edgeq_w4a4")
    isa = next(iter(results.values()))["edgeq"]["isa"]
    print(f"single thread, batch 1, min (p50) us over {args.runs} runs after {args.warmup} warm-up;")
    print(f"edgeq kernels: {isa}; edgeq_w4a4: a W4A4 model of the same architecture (synth)")
    ratios = "edgeq / best peer" + (" | W4A4 / best peer's int8" if not args.no_w4a4 else "")
    print(f"| model | {' | '.join(cols)} | {ratios} |")
    print("|---|" + "---:|" * (len(cols) + 1 + (not args.no_w4a4)))
    for name, row in results.items():
        cells = []
        for c in cols:
            t = row.get(c)
            cells.append(f"{t['min']:.1f} ({t['p50']:.1f})" if t else "-")
        peers = [row[c]["min"] for c in ("litert_xnnpack", "onnxruntime") if c in row]
        best = min(peers)
        ratio = f"{row['edgeq']['min'] / best:.2f}x"
        if "edgeq_w4a4" in row:
            ratio += f" | {row['edgeq_w4a4']['min'] / best:.2f}x"
        print(f"| {name} | {' | '.join(cells)} | {ratio} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
