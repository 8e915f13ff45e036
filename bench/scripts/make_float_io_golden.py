#!/usr/bin/env python3
"""Make golden pairs for the float-I/O MLPerf Tiny AD model with TFLite's reference kernels.

The bundled goldens (examples/data/mlperf-tiny/golden/{ic,kws,vww,ad}) came with the models.
This script adds `golden/ad_float_io/`: real ToyCar log-mel windows (float32 [1, 640]) run
through `model_ToyCar_quant_fullint_micro.tflite` (QUANTIZE -> 10 x FULLY_CONNECTED ->
DEQUANTIZE) by LiteRT's BUILTIN_REF resolver, so edgeq's QUANTIZE/DEQUANTIZE are checked
against the real oracle too. Needs `pip install ai-edge-litert numpy`; not run by the tests.

    python3 bench/scripts/make_float_io_golden.py
"""
import pathlib

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

data = pathlib.Path(__file__).resolve().parents[2] / "examples/data/mlperf-tiny"
out = data / "golden/ad_float_io"
out.mkdir(parents=True, exist_ok=True)
interp = Interpreter(
    model_path=str(data / "models/model_ToyCar_quant_fullint_micro.tflite"),
    experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
)
interp.allocate_tensors()
spectrogram = np.fromfile(data / "normal_id_01_00000000_hist_librosa.bin", dtype="<f4")
for case, window in enumerate([0, 60, 120, 195]):
    x = spectrogram[128 * window : 128 * window + 640].reshape(1, 640).astype(np.float32)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    y = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.save(out / f"input_{case}.npy", x)
    np.save(out / f"output_{case}.npy", y)
    print(f"case {case}: window {window}, output[:4] = {y.ravel()[:4]}")
