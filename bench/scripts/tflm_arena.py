#!/usr/bin/env python3
"""RAM of a model in TFLite Micro beside edgeq: TFLM's arena (the planned tensors, "head",
plus its persistent allocations, "tail": per-op data, tensor structs, per-channel
quantization, variable tensors) against edgeq's arena (tensors, scratch and recurrent
state; edgeq keeps per-op data and requantization tables with the weights, in flash).

    python3 -m venv --system-site-packages /tmp/tflm && /tmp/tflm/bin/pip install tflite-micro
    /tmp/tflm/bin/python bench/scripts/tflm_arena.py MODEL.tflite... [--edgeq-convert BIN]

Each model runs one inference in TFLM's Python interpreter (the `tflite-micro` package) on
seeded random input of the shape and type LiteRT reads from the model (ai-edge-litert must be
importable); the table also says whether TFLM's output equals LiteRT's reference kernels'
(edgeq matches LiteRT's).
"""

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# Runs in a child process: TFLM prints its allocation report from C++ (to stderr).
CHILD = r"""
import sys, numpy as np
from tflite_micro import runtime
it = runtime.Interpreter.from_file(sys.argv[1], arena_size=64 * 1024 * 1024)
x = np.load(sys.argv[2])
it.set_input(x, 0)
it.invoke()
np.save(sys.argv[3], it.get_output(0))
it.print_allocations()
"""


def tflm(model, x_path, y_path):
    out = subprocess.run([sys.executable, "-c", CHILD, str(model), str(x_path), str(y_path)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1:]
    found = dict(re.findall(r"Arena allocation (total|head|tail) (\d+) bytes",
                            out.stdout + out.stderr))
    return {k: int(v) for k, v in found.items()}, None


def litert_output(model, x):
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError:
        return None
    interp = litert.Interpreter(model_path=str(model),
                                experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def edgeq_arena(convert, model, tmp):
    eqm = tmp / (model.stem + ".eqm")
    subprocess.run([convert, "import", str(model), "-o", str(eqm)], check=True,
                   capture_output=True)
    text = subprocess.run([convert, "inspect", str(eqm)], check=True, capture_output=True,
                          text=True).stdout
    return int(re.search(r"arena bytes\s+(\d+)", text).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--edgeq-convert", default="target/release/edgeq-convert",
                    help="the converter binary (default: %(default)s)")
    args = ap.parse_args()
    print("| model | TFLM arena (head + tail) | edgeq arena | TFLM output = LiteRT's |")
    print("|---|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for model in args.models:
            details = None
            try:
                from ai_edge_litert import interpreter as litert
                probe = litert.Interpreter(model_path=str(model))
                details = probe.get_input_details()[0]
            except Exception:  # LiteRT missing or refusing the model
                pass
            shape = details["shape"] if details is not None else None
            if shape is None:
                print(f"| {model.stem} | (input shape unknown without LiteRT) | | |")
                continue
            info = np.iinfo(details["dtype"])  # int8, or an int16 audio input
            x = np.random.default_rng(0).integers(info.min, info.max + 1, size=shape,
                                                  dtype=details["dtype"])
            x_path, y_path = tmp / "x.npy", tmp / "y.npy"
            np.save(x_path, x)
            sizes, err = tflm(model, x_path, y_path)
            ours = edgeq_arena(args.edgeq_convert, model, tmp)
            if sizes is None:
                print(f"| {model.stem} | TFLM failed: {err} | {ours:,} B | |")
                continue
            reference = litert_output(model, x)
            same = "n/a" if reference is None else (
                "yes" if np.array_equal(np.load(y_path), reference) else "no")
            print(f"| {model.stem} | {sizes['total']:,} B ({sizes['head']:,} + "
                  f"{sizes['tail']:,}) | {ours:,} B | {same} |")


if __name__ == "__main__":
    main()
