#!/usr/bin/env python3
"""Golden outputs of the public models in this folder from LiteRT's reference kernels
(OpResolverType.BUILTIN_REF), for trainer/convert/tests/tflite_ops.rs.

    python3 trainer/convert/tests/data/public/make_goldens.py

Each MODEL.tflite gets MODEL.CASE.out.npy for every MODEL.CASE.in0.npy already here (the
real inputs README.md lists), and for seeded random inputs MODEL.r0.. (four, one for large
inputs). See README.md for where the models and inputs come from.
"""

import pathlib
import zlib

import numpy as np
from ai_edge_litert import interpreter as litert

HERE = pathlib.Path(__file__).resolve().parent


def main():
    for model in sorted(HERE.glob("*.tflite")):
        name = model.stem
        interp = litert.Interpreter(
            model_path=str(model),
            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
        )
        interp.allocate_tensors()
        (d,) = interp.get_input_details()
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        for case in range(4 if np.prod(d["shape"]) < 10_000 else 1):
            info = np.iinfo(d["dtype"])  # int8, or int16 audio
            x = rng.integers(info.min, info.max + 1, size=d["shape"], dtype=d["dtype"])
            np.save(HERE / f"{name}.r{case}.in0.npy", x)
        for input_path in sorted(HERE.glob(f"{name}.*.in0.npy")):
            case = input_path.name[: -len(".in0.npy")]
            # Each case is one whole sequence: LSTM state starts from zero, as edgeq's does.
            interp.reset_all_variables()
            interp.set_tensor(d["index"], np.load(input_path))
            interp.invoke()
            y = interp.get_tensor(interp.get_output_details()[0]["index"])
            np.save(HERE / f"{case}.out.npy", y)
            print(case, "top class", int(y.argmax()))
    stream("dtln", 4)


def stream(name, frames):
    """streams/NAME.K.in0.npy and .out.npy: `frames` consecutive invokes of one interpreter
    whose LSTM state carries from frame to frame (a streaming model's use): the real input
    first, then seeded random frames."""
    interp = litert.Interpreter(
        model_path=str(HERE / f"{name}.tflite"),
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
    )
    interp.allocate_tensors()
    (d,) = interp.get_input_details()
    rng = np.random.default_rng(zlib.crc32(f"{name} stream".encode()))
    folder = HERE / "streams"
    folder.mkdir(exist_ok=True)
    for k in range(frames):
        x = (np.load(HERE / f"{name}.frame.in0.npy") if k == 0 else
             rng.integers(-128, 128, size=d["shape"], dtype=np.int8))
        interp.set_tensor(d["index"], x)
        interp.invoke()
        np.save(folder / f"{name}.{k}.in0.npy", x)
        np.save(folder / f"{name}.{k}.out.npy",
                interp.get_tensor(interp.get_output_details()[0]["index"]))


if __name__ == "__main__":
    main()
