#!/usr/bin/env python3
"""Layer-by-layer comparison of an edgeq run with LiteRT's reference kernels.

    edgeq-bench infer model.eqm --input x.npy --dump run/
    bench/scripts/tflite_diff.py model.tflite run/

Runs the original .tflite in LiteRT's reference interpreter (OpResolverType.BUILTIN_REF, the
kernels edgeq matches bit for bit) on the inputs saved in the dump, keeping every
intermediate tensor (experimental_preserve_all_tensors), then walks the TFLite operators in
execution order and compares each output with the edgeq tensor of the same name (the TFLite
importer keeps tensor names; a file without names is matched operator by operator). Prints
one line per operator and names the first whose output differs: the operator to look at,
since later differences may only propagate it.

Exit status: 0 when every compared tensor is equal, 1 when one differs, 2 on a usage error
(missing files, nothing to compare). Needs numpy and ai-edge-litert (pip install
ai-edge-litert).
"""

import argparse
import csv
import sys
from pathlib import Path

import numpy as np


def load_dump(folder):
    """The dump's rows (tensors.tsv) with their arrays, keyed by tensor name."""
    index = folder / "tensors.tsv"
    if not index.is_file():
        sys.exit(f"error: {index} not found: make the dump with "
                 "`edgeq-bench infer MODEL.eqm --input ... --dump DIR`")
    rows = list(csv.DictReader(index.open(newline=""), delimiter="\t",
                               quoting=csv.QUOTE_NONE))
    for r in rows:
        r["array"] = np.load(folder / r["file"])
    return rows


def reference_run(tflite, inputs):
    from ai_edge_litert import interpreter as litert

    interp = litert.Interpreter(
        model_path=str(tflite),
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interp.allocate_tensors()
    details = interp.get_input_details()
    if len(details) != len(inputs):
        sys.exit(f"error: {tflite} has {len(details)} inputs, the dump {len(inputs)}")
    for d, x in zip(details, inputs):
        if x.dtype != d["dtype"] or x.size != np.prod(d["shape"]):
            sys.exit(f"error: input '{d['name']}' takes {np.dtype(d['dtype']).name} "
                     f"{list(d['shape'])}; the dump has {x.dtype.name} {list(x.shape)}")
        interp.set_tensor(d["index"], x.reshape(d["shape"]))
    interp.invoke()
    return interp


def compare(ours, theirs):
    """(elements that differ, largest difference) of two arrays of one size."""
    a = ours.astype(np.float64).ravel()
    b = theirs.astype(np.float64).ravel()
    diff = np.abs(a - b)
    return int(np.count_nonzero(diff)), float(diff.max(initial=0.0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("tflite", type=Path, help="the .tflite the .eqm was imported from")
    ap.add_argument("dump", type=Path, help="the folder `edgeq-bench infer --dump` wrote")
    args = ap.parse_args()
    if not args.tflite.is_file():
        sys.exit(f"error: {args.tflite} not found")

    rows = load_dump(args.dump)
    inputs = [r["array"] for r in rows if r["op"] == "input"]
    op_rows = [r for r in rows if r["op"] != "input"]
    ours = {r["name"]: r for r in op_rows if r["name"]}
    interp = reference_run(args.tflite, inputs)
    tensors = {d["index"]: d for d in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    # Files whose tensors have no names (or repeat them) are matched by position when
    # both sides have one output per operator, in the same number.
    names = [tensors[int(t)]["name"] for op in ops for t in op["outputs"]]
    by_position = (len(set(names)) < len(names) or "" in names) and len(names) == len(op_rows)
    if by_position:
        print("tensor names missing or repeated: operators matched by position")
    elif not ours:
        sys.exit("error: the dump has no named operator outputs (was the .eqm made by the "
                 "TFLite importer?)")

    first, compared, missing = None, 0, 0
    print(f"{'tflite op':>9}  {'operator':<24} {'tensor':<32} {'edgeq op':<28} result")
    position = 0
    for op in ops:
        for t in op["outputs"]:
            d = tensors[int(t)]
            name = d["name"]
            mine = op_rows[position] if by_position else ours.get(name)
            position += 1
            label = f"{op['index']:>9}  {op['op_name']:<24} {name[-32:]:<32}"
            if mine is None:
                missing += 1
                print(f"{label} {'-':<28} not in the dump (fused or folded by the importer)")
                continue
            theirs = interp.get_tensor(d["index"])
            ours_op = f"{mine['op']} {mine['kind']}"
            if mine["array"].size != theirs.size:
                result = (f"DIFFERENT SHAPE: edgeq {list(mine['array'].shape)}, "
                          f"TFLite {list(theirs.shape)}")
                bad = True
            else:
                count, largest = compare(mine["array"], theirs)
                bad = count > 0
                result = (f"{count} of {theirs.size} differ, largest by {largest:g}"
                          if bad else "equal")
            compared += 1
            if bad and first is None:
                first = (op, name, ours_op, result)
            print(f"{label} {ours_op:<28} {result}")
    if compared == 0:
        sys.exit("error: no TFLite output tensor has a namesake in the dump: "
                 "was the .eqm imported from this .tflite?")
    print(f"\n{compared} tensors compared, {missing} TFLite tensors not in the dump")
    if first is None:
        print("every compared tensor is equal")
        return 0
    op, name, ours_op, result = first
    print(f"first difference: TFLite operator {op['index']} ({op['op_name']}), output "
          f"'{name}', edgeq operator {ours_op}: {result}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
