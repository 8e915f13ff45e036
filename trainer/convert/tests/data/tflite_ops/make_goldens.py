#!/usr/bin/env python3
"""Writes one-operator int8 TFLite models and their golden outputs from LiteRT's reference
kernels (OpResolverType.BUILTIN_REF), for trainer/convert/tests/tflite_ops.rs.

    python3 trainer/convert/tests/data/tflite_ops/make_goldens.py

Needs numpy, flatbuffers and ai-edge-litert (the schema's Python module ships with it). The
models are written field by field from the TFLite schema, so no converter is involved: every
case is exactly the operator, shapes, quantization and options named below. Each case NAME
gets NAME.tflite, NAME.in0.npy (.in1.npy ... for more inputs) and NAME.out.npy. Inputs are
random (seeded); the script is deterministic.
"""

import pathlib
import zlib

import flatbuffers
import numpy as np
from ai_edge_litert import interpreter as litert
from ai_edge_litert import schema_py_generated as S

OUT = pathlib.Path(__file__).resolve().parent

ACT = {
    "none": S.ActivationFunctionType.NONE,
    "relu": S.ActivationFunctionType.RELU,
    "relu6": S.ActivationFunctionType.RELU6,
    "relu_n1_to_1": S.ActivationFunctionType.RELU_N1_TO_1,
}


def act(shape, scale, zero_point):
    """An int8 activation: (shape, scale, zero point)."""
    return {"shape": list(shape), "type": S.TensorType.INT8, "q": (scale, zero_point)}


def const(array, tensor_type, q=None):
    """A constant tensor from a NumPy array."""
    return {"shape": list(array.shape), "type": tensor_type, "q": q, "data": array}


def model(op, options_type, options, inputs, output, version=1):
    """A one-operator model: `inputs` (activations and constants) -> `output`."""
    names = [f"input{i}" for i in range(len(inputs))]
    tensors = dict(zip(names, inputs), output=output)
    return graph(tensors, [(op, options_type, options, names, "output", version)])


def graph(tensors, ops):
    """A model of `ops` (op, options type, options, input names, output name, version) in
    order over the named `tensors`; the non-constant tensors no op writes are its inputs,
    the tensors no op reads its outputs."""
    m = S.ModelT()
    m.version = 3
    m.description = "edgeq op golden"
    m.operatorCodes = []
    m.buffers = [S.BufferT()]  # buffer 0 is the empty sentinel
    sub = S.SubGraphT()
    sub.tensors = []
    index = {}
    for name, spec in tensors.items():
        t = S.TensorT()
        t.shape = spec["shape"]
        t.type = spec["type"]
        t.name = name
        t.isVariable = spec.get("variable", False)
        if spec.get("q") is not None:
            q = S.QuantizationParametersT()
            scales = np.atleast_1d(spec["q"][0]).astype(float).tolist()  # per-channel: a list
            q.scale = scales
            q.zeroPoint = [int(spec["q"][1])] * len(scales)
            q.quantizedDimension = 0
            t.quantization = q
        buffer = S.BufferT()
        if "data" in spec:
            buffer.data = np.frombuffer(spec["data"].tobytes(), dtype=np.uint8).tolist()
        m.buffers.append(buffer)
        t.buffer = len(m.buffers) - 1
        sub.tensors.append(t)
        index[name] = len(sub.tensors) - 1
    sub.operators = []
    codes = {}
    for op, options_type, options, ins, out, version, *intermediates in ops:
        if (op, version) not in codes:
            code = S.OperatorCodeT()
            code.builtinCode = op
            code.deprecatedBuiltinCode = min(op, 127)
            code.version = version
            m.operatorCodes.append(code)
            codes[(op, version)] = len(m.operatorCodes) - 1
        o = S.OperatorT()
        o.opcodeIndex = codes[(op, version)]
        o.inputs = [-1 if n is None else index[n] for n in ins]
        if intermediates:
            o.intermediates = [index[n] for n in intermediates[0]]
        o.outputs = [index[n] for n in (out if isinstance(out, list) else [out])]
        if options is not None:
            o.builtinOptionsType = options_type
            o.builtinOptions = options
        sub.operators.append(o)
    written = {n for op in ops for n in (op[4] if isinstance(op[4], list) else [op[4]])}
    read = {n for op in ops for n in op[3]}
    sub.inputs = [index[n] for n, s in tensors.items()
                  if n not in written and "data" not in s and not s.get("internal")]
    sub.outputs = [index[n] for n in tensors if n in written and n not in read]
    m.subgraphs = [sub]
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def write(name, tflite, cases=3, first=None, layers=False, index_bound=None):
    """Saves the model and `cases` input sets with LiteRT's reference outputs: `first` (a
    list of arrays) or the extremes, then random values. With `layers`, every operator's
    output of case 0 too, as layers/NAME.0/TENSOR.npy (for `edgeq-bench infer --dump`).
    int32 inputs (indices) are drawn from 0..index_bound."""
    (OUT / f"{name}.tflite").write_bytes(tflite)
    interp = litert.Interpreter(
        model_content=tflite,
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=layers,
    )
    interp.allocate_tensors()
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # each case its own inputs
    for case in range(cases):
        for i, d in enumerate(interp.get_input_details()):
            if d["dtype"] == np.int32:
                x = rng.integers(0, index_bound, size=d["shape"], dtype=np.int32)
            elif d["dtype"] == np.int16:
                x = rng.integers(-32768, 32768, size=d["shape"], dtype=np.int16)
            elif case == 0 and first is not None:
                x = first[i]
            elif case == 0:
                x = np.where(rng.random(d["shape"]) < 0.5, -128, 127).astype(np.int8)
            else:
                x = rng.integers(-128, 128, size=d["shape"], dtype=np.int8)
            interp.set_tensor(d["index"], x)
            np.save(OUT / f"{name}.{case}.in{i}.npy", x)
        interp.reset_all_variables()  # each case one whole sequence (LSTM state from zero)
        interp.invoke()
        for k, d in enumerate(interp.get_output_details()):
            suffix = "out" if k == 0 else f"out{k}"
            np.save(OUT / f"{name}.{case}.{suffix}.npy", interp.get_tensor(d["index"]))
        if layers and case == 0:
            folder = OUT / "layers" / f"{name}.{case}"
            folder.mkdir(parents=True, exist_ok=True)
            details = {d["index"]: d for d in interp.get_tensor_details()}
            for op in interp._get_ops_details():
                for t in op["outputs"]:
                    np.save(folder / f"{details[t]['name']}.npy", interp.get_tensor(t))


def add_options(activation):
    o = S.AddOptionsT()
    o.fusedActivationFunction = ACT[activation]
    return o


def sub_options(activation):
    o = S.SubOptionsT()
    o.fusedActivationFunction = ACT[activation]
    return o


def mul_options(activation):
    o = S.MulOptionsT()
    o.fusedActivationFunction = ACT[activation]
    return o


def pad(name, shape, paddings, q, value=None):
    out_shape = [d + a + b for d, (a, b) in zip(shape, paddings)]
    inputs = [act(shape, *q), const(np.array(paddings, dtype=np.int32), S.TensorType.INT32)]
    op, opts_type, opts = S.BuiltinOperator.PAD, S.BuiltinOptions.PadOptions, S.PadOptionsT()
    if value is not None:
        inputs.append(const(np.array([value], dtype=np.int8), S.TensorType.INT8, q))
        op, opts_type, opts = (
            S.BuiltinOperator.PADV2,
            S.BuiltinOptions.PadV2Options,
            S.PadV2OptionsT(),
        )
    write(name, model(op, opts_type, opts, inputs, act(out_shape, *q), version=2))


def concat(name, shapes, axis, q):
    out_shape = list(shapes[0])
    out_shape[axis] = sum(s[axis] for s in shapes)
    o = S.ConcatenationOptionsT()
    o.axis = axis
    o.fusedActivationFunction = S.ActivationFunctionType.NONE
    write(
        name,
        model(
            S.BuiltinOperator.CONCATENATION,
            S.BuiltinOptions.ConcatenationOptions,
            o,
            [act(s, *q) for s in shapes],
            act(out_shape, *q),
            version=2,
        ),
    )


def unary(name, op, options_type, options, q_in, q_out, shape=(2, 128)):
    """A one-input operator, its first case every int8 value once."""
    every = np.arange(-128, 128, dtype=np.int8).reshape(shape)
    write(name, model(op, options_type, options, [act(shape, *q_in)], act(shape, *q_out)),
          first=[every])


def leaky_relu(name, alpha, q_in, q_out):
    o = S.LeakyReluOptionsT()
    o.alpha = alpha
    unary(name, S.BuiltinOperator.LEAKY_RELU, S.BuiltinOptions.LeakyReluOptions, o, q_in, q_out)


def transpose(name, shape, perm, q):
    out_shape = [shape[p] for p in perm]
    write(name, model(S.BuiltinOperator.TRANSPOSE, S.BuiltinOptions.TransposeOptions,
                      S.TransposeOptionsT(),
                      [act(shape, *q), const(np.array(perm, dtype=np.int32), S.TensorType.INT32)],
                      act(out_shape, *q), version=2))


def mean(name, shape, axes, keep_dims, q_in, q_out):
    rank = len(shape)
    reduced = {a % rank for a in axes}
    if keep_dims:
        out_shape = [1 if i in reduced else d for i, d in enumerate(shape)]
    else:
        out_shape = [d for i, d in enumerate(shape) if i not in reduced]
    o = S.ReducerOptionsT()
    o.keepDims = keep_dims
    write(name, model(S.BuiltinOperator.MEAN, S.BuiltinOptions.ReducerOptions, o,
                      [act(shape, *q_in), const(np.array(axes, dtype=np.int32), S.TensorType.INT32)],
                      act(out_shape, *q_out), version=2))


def strided_slice(name, shape, begin, end, strides, out_shape, q, begin_mask=0, end_mask=0,
                  shrink=0, offset=False):
    o = S.StridedSliceOptionsT()
    o.beginMask, o.endMask, o.shrinkAxisMask, o.offset = begin_mask, end_mask, shrink, offset
    ints = lambda v: const(np.array(v, dtype=np.int32), S.TensorType.INT32)
    write(name, model(S.BuiltinOperator.STRIDED_SLICE, S.BuiltinOptions.StridedSliceOptions, o,
                      [act(shape, *q), ints(begin), ints(end), ints(strides)],
                      act(out_shape, *q), version=4))


def split_graph(name, shape, axis, sizes, q, variable):
    """SPLIT (equal parts) or SPLIT_V (`sizes`) into one output per part, each a model output."""
    outs = {}
    for i, n in enumerate(sizes):
        out_shape = list(shape)
        out_shape[axis] = n
        outs[f"part{i}"] = act(out_shape, *q)
    ints = lambda v: const(np.array(v, dtype=np.int32), S.TensorType.INT32)
    tensors = {"x": act(shape, *q), "axis": ints([axis])}
    if variable:
        tensors["sizes"] = ints(sizes)
        o = S.SplitVOptionsT()
        o.numSplits = len(sizes)
        op = (S.BuiltinOperator.SPLIT_V, S.BuiltinOptions.SplitVOptions, o,
              ["x", "sizes", "axis"], list(outs), 2)
    else:
        o = S.SplitOptionsT()
        o.numSplits = len(sizes)
        op = (S.BuiltinOperator.SPLIT, S.BuiltinOptions.SplitOptions, o, ["axis", "x"],
              list(outs), 3)
    tensors.update(outs)
    write(name, graph(tensors, [op]))


def resize_nearest(name, shape, out_hw, q, align_corners=False, half_pixel_centers=False):
    o = S.ResizeNearestNeighborOptionsT()
    o.alignCorners, o.halfPixelCenters = align_corners, half_pixel_centers
    out_shape = [shape[0], *out_hw, shape[3]]
    write(name, model(S.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR,
                      S.BuiltinOptions.ResizeNearestNeighborOptions, o,
                      [act(shape, *q), const(np.array(out_hw, dtype=np.int32), S.TensorType.INT32)],
                      act(out_shape, *q), version=3))


def resize_bilinear(name, shape, out_hw, q, align_corners=False, half_pixel_centers=False):
    o = S.ResizeBilinearOptionsT()
    o.alignCorners, o.halfPixelCenters = align_corners, half_pixel_centers
    out_shape = [shape[0], *out_hw, shape[3]]
    write(name, model(S.BuiltinOperator.RESIZE_BILINEAR,
                      S.BuiltinOptions.ResizeBilinearOptions, o,
                      [act(shape, *q), const(np.array(out_hw, dtype=np.int32), S.TensorType.INT32)],
                      act(out_shape, *q), version=3))


def lstm(name, batches, steps, n_input, cells, q_in, q_state, cell_shift, cell_clip=0.0,
         time_major=False, hidden_q=None):
    """An integer UNIDIRECTIONAL_SEQUENCE_LSTM (int8 weights, int16 cell state) with random
    weights and biases: `q_in`, `q_state` are the input's and output state's (scale, zero
    point), the cell state's scale is 2^cell_shift, `hidden_q` the hidden intermediate's
    (the output state's by default)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()) + 1)
    hidden_q = hidden_q or q_state
    x_shape = [steps, batches, n_input] if time_major else [batches, steps, n_input]
    tensors = {"x": act(x_shape, *q_in)}
    gates = ["input", "forget", "cell", "output"]
    for g in gates:
        scale = float(rng.uniform(0.002, 0.02))
        w = rng.integers(-127, 128, size=(cells, n_input), dtype=np.int8)
        tensors[f"w_x_{g}"] = const(w, S.TensorType.INT8, (scale, 0))
        bias_scale = scale * q_in[0]
        bias = rng.integers(-4000, 4000, size=cells, dtype=np.int32)
        tensors[f"b_{g}"] = const(bias, S.TensorType.INT32, (bias_scale, 0))
    for g in gates:
        scale = float(rng.uniform(0.002, 0.02))
        w = rng.integers(-127, 128, size=(cells, cells), dtype=np.int8)
        tensors[f"w_h_{g}"] = const(w, S.TensorType.INT8, (scale, 0))
    tensors["state"] = {"shape": [batches, cells], "type": S.TensorType.INT8, "q": q_state,
                        "variable": True, "internal": True}
    tensors["cell"] = {"shape": [batches, cells], "type": S.TensorType.INT16,
                       "q": (2.0 ** cell_shift, 0), "variable": True, "internal": True}
    for g in gates:
        tensors[f"{g}_intermediate"] = {"shape": [0], "type": S.TensorType.FLOAT32,
                                        "internal": True}
    tensors["hidden_intermediate"] = {"shape": [0], "type": S.TensorType.INT8, "q": hidden_q,
                                      "internal": True}
    y_shape = [steps, batches, cells] if time_major else [batches, steps, cells]
    tensors["y"] = act(y_shape, *q_state)
    o = S.UnidirectionalSequenceLSTMOptionsT()
    o.fusedActivationFunction = S.ActivationFunctionType.TANH
    o.cellClip = cell_clip
    o.timeMajor = time_major
    ins = (["x"] + [f"w_x_{g}" for g in gates] + [f"w_h_{g}" for g in gates]
           + [None] * 3 + [f"b_{g}" for g in gates] + [None, None, "state", "cell"]
           + [None] * 4)
    write(name, graph(tensors, [(
        S.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM,
        S.BuiltinOptions.UnidirectionalSequenceLSTMOptions, o, ins, "y", 1,
        [f"{g}_intermediate" for g in gates] + ["hidden_intermediate"],
    )]))


def transpose_conv(name, x_shape, filter_hw, out_c, stride, padding, q_in, q_out,
                   bias=True, activation="none"):
    """TRANSPOSE_CONV with random per-channel int8 weights (and bias): the output size is
    the one TFLite's padding rule gives."""
    rng = np.random.default_rng(zlib.crc32(name.encode()) + 2)
    n, h, w, c = x_shape
    kh, kw = filter_hw
    if padding == S.Padding.SAME:
        oh, ow = h * stride[0], w * stride[1]
    else:
        oh, ow = (h - 1) * stride[0] + kh, (w - 1) * stride[1] + kw
    scales = rng.uniform(0.002, 0.02, size=out_c)
    weights = rng.integers(-127, 128, size=(out_c, kh, kw, c), dtype=np.int8)
    inputs = [const(np.array([n, oh, ow, out_c], dtype=np.int32), S.TensorType.INT32),
              const(weights, S.TensorType.INT8, (scales, 0)),
              act(x_shape, *q_in)]
    if bias:
        b = rng.integers(-3000, 3000, size=out_c, dtype=np.int32)
        inputs.append(const(b, S.TensorType.INT32, (scales * q_in[0], 0)))
    o = S.TransposeConvOptionsT()
    o.padding, o.strideH, o.strideW = padding, stride[0], stride[1]
    o.fusedActivationFunction = ACT[activation]
    write(name, model(S.BuiltinOperator.TRANSPOSE_CONV, S.BuiltinOptions.TransposeConvOptions, o,
                      inputs, act([n, oh, ow, out_c], *q_out), version=4))


def gather(name, x, indices, axis, out_shape, q, batch_dims=0, index_bound=None):
    """GATHER of `x` (an activation spec or a constant) by `indices` (a constant array, or
    an int32 activation shape drawn from 0..index_bound)."""
    o = S.GatherOptionsT()
    o.axis, o.batchDims = axis, batch_dims
    if isinstance(indices, np.ndarray):
        kind = S.TensorType.INT64 if indices.dtype == np.int64 else S.TensorType.INT32
        idx = const(indices, kind)
    else:
        idx = {"shape": list(indices), "type": S.TensorType.INT32}
    write(name, model(S.BuiltinOperator.GATHER, S.BuiltinOptions.GatherOptions, o,
                      [x, idx], act(out_shape, *q), version=5), index_bound=index_bound)


def stream(name, frames):
    """streams/NAME.K.in0.npy and .out.npy: `frames` consecutive invokes of one interpreter
    on seeded random inputs, the operator's state carried from one to the next."""
    interp = litert.Interpreter(
        model_path=str(OUT / f"{name}.tflite"),
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
    )
    interp.allocate_tensors()
    (d,) = interp.get_input_details()
    rng = np.random.default_rng(zlib.crc32(f"{name} stream".encode()))
    folder = OUT / "streams"
    folder.mkdir(exist_ok=True)
    for k in range(frames):
        x = rng.integers(-128, 128, size=d["shape"], dtype=np.int8)
        interp.set_tensor(d["index"], x)
        interp.invoke()
        np.save(folder / f"{name}.{k}.in0.npy", x)
        np.save(folder / f"{name}.{k}.out.npy",
                interp.get_tensor(interp.get_output_details()[0]["index"]))


def svdf(name, batches, n_input, units, rank, memory, q_in, q_out, state_scale, bias=True):
    """An integer SVDF (int8 feature weights, int16 time weights and state) with random
    weights; its state a variable tensor."""
    rng = np.random.default_rng(zlib.crc32(name.encode()) + 3)
    filters = units * rank
    wf_scale, wt_scale = float(rng.uniform(0.005, 0.02)), float(rng.uniform(1e-4, 4e-4))
    tensors = {
        "x": act([batches, n_input], *q_in),
        "weights_feature": const(rng.integers(-127, 128, size=(filters, n_input), dtype=np.int8),
                                 S.TensorType.INT8, (wf_scale, 0)),
        "weights_time": const(rng.integers(-32767, 32768, size=(filters, memory), dtype=np.int16),
                              S.TensorType.INT16, (wt_scale, 0)),
    }
    if bias:
        tensors["bias"] = const(rng.integers(-20000, 20000, size=units, dtype=np.int32),
                                S.TensorType.INT32, (state_scale * wt_scale, 0))
    tensors["state"] = {"shape": [batches, memory * filters], "type": S.TensorType.INT16,
                        "q": (state_scale, 0), "variable": True, "internal": True}
    tensors["y"] = act([batches, units], *q_out)
    o = S.SVDFOptionsT()
    o.rank = rank
    o.fusedActivationFunction = S.ActivationFunctionType.RELU
    write(name, graph(tensors, [(S.BuiltinOperator.SVDF, S.BuiltinOptions.SVDFOptions, o,
                                 ["x", "weights_feature", "weights_time",
                                  "bias" if bias else None, "state"], "y", 4)]))


def main():
    # MUL: same shapes, broadcasting (a per-channel scale, a scalar), fused activations,
    # multipliers below and above one, a constant operand.
    mul = (S.BuiltinOperator.MUL, S.BuiltinOptions.MulOptions)
    write("mul_same", model(*mul, mul_options("none"),
          [act([1, 4, 5, 7], 0.05, 3), act([1, 4, 5, 7], 0.02, -7)], act([1, 4, 5, 7], 0.01, 2), version=2))
    write("mul_relu_big_multiplier", model(*mul, mul_options("relu"),
          [act([2, 3, 9], 0.5, -128), act([2, 3, 9], 0.25, 127)], act([2, 3, 9], 0.01, -20), version=2))
    write("mul_broadcast_channels", model(*mul, mul_options("relu6"),
          [act([1, 6, 6, 16], 0.03, -5), act([1, 1, 1, 16], 0.007, 11)], act([1, 6, 6, 16], 0.004, -1), version=2))
    write("mul_broadcast_both", model(*mul, mul_options("none"),
          [act([3, 1, 5], 0.1, 0), act([1, 4, 1], 0.2, 9)], act([3, 4, 5], 0.3, -3), version=2))
    write("mul_scalar_const", model(*mul, mul_options("relu_n1_to_1"),
          [act([1, 8, 8, 3], 0.02, 1),
           const(np.array([77], dtype=np.int8), S.TensorType.INT8, (0.004, -2))],
          act([1, 8, 8, 3], 0.001, 0), version=2))
    # Every pair of int8 values, at a multiplier whose right shift is large (where the two
    # rounding rules differ).
    every = np.arange(-128, 128, dtype=np.int8)
    write("mul_every_pair", model(*mul, mul_options("none"),
          [act([256, 1], 0.013, -3), act([1, 256], 0.0021, 5)], act([256, 256], 0.0137, 1), version=2),
          cases=1, first=[every.reshape(256, 1), every.reshape(1, 256)])
    # ADD with broadcasting, SUB (same arithmetic, a difference), MAXIMUM and MINIMUM.
    add = (S.BuiltinOperator.ADD, S.BuiltinOptions.AddOptions)
    sub = (S.BuiltinOperator.SUB, S.BuiltinOptions.SubOptions)
    write("add_broadcast_channels", model(*add, add_options("relu"),
          [act([1, 5, 5, 8], 0.05, 3), act([1, 1, 1, 8], 0.02, -7)], act([1, 5, 5, 8], 0.06, -10), version=2))
    write("add_broadcast_const", model(*add, add_options("none"),
          [act([2, 3, 4], 0.1, -20),
           const(np.array([[5], [-90], [127]], dtype=np.int8), S.TensorType.INT8, (0.03, 1))],
          act([2, 3, 4], 0.1, 0), version=2))
    write("sub_same", model(*sub, sub_options("none"),
          [act([1, 4, 5, 7], 0.05, 3), act([1, 4, 5, 7], 0.02, -7)], act([1, 4, 5, 7], 0.06, 2), version=2))
    write("sub_broadcast_relu6", model(*sub, sub_options("relu6"),
          [act([3, 1, 5], 0.1, 0), act([1, 4, 1], 0.2, 9)], act([3, 4, 5], 6 / 255, -128), version=2))
    for op, name in [(S.BuiltinOperator.MAXIMUM, "maximum"), (S.BuiltinOperator.MINIMUM, "minimum")]:
        write(f"{name}_same", model(op, S.BuiltinOptions.MaximumMinimumOptions, S.MaximumMinimumOptionsT(),
              [act([2, 5, 6], 0.1, 4), act([2, 5, 6], 0.1, 4)], act([2, 5, 6], 0.1, 4), version=2))
        write(f"{name}_broadcast_const", model(op, S.BuiltinOptions.MaximumMinimumOptions,
              S.MaximumMinimumOptionsT(),
              [act([1, 4, 4, 3], 0.1, 4),
               const(np.array([-3], dtype=np.int8), S.TensorType.INT8, (0.1, 4))],
              act([1, 4, 4, 3], 0.1, 4), version=2))
    # PAD / PADV2: every axis, asymmetric, the zero point or a given value.
    pad("pad_hw", [1, 5, 6, 3], [[0, 0], [1, 2], [2, 1], [0, 0]], (0.1, -4))
    pad("pad_all_axes", [2, 3, 4, 5], [[1, 0], [0, 2], [3, 1], [2, 2]], (0.05, 7))
    pad("pad_rank2", [7, 9], [[2, 3], [0, 4]], (0.2, 0))
    pad("padv2_value", [1, 4, 4, 8], [[0, 0], [1, 1], [1, 1], [0, 0]], (0.1, -4), value=-128)
    # CONCATENATION: the channel axis, an inner axis, a negative axis, five inputs.
    concat("concat_channels", [[1, 4, 4, 3], [1, 4, 4, 5]], 3, (0.1, 2))
    concat("concat_height", [[1, 2, 3, 4], [1, 5, 3, 4], [1, 1, 3, 4]], 1, (0.3, -9))
    concat("concat_negative_axis", [[2, 3, 4], [2, 3, 1]], -1, (0.01, 100))
    concat("concat_five", [[3, 2], [3, 1], [3, 4], [3, 2], [3, 3]], 1, (0.5, -128))
    # Element-wise functions (edgeq's LOOKUP tables), each on every int8 value.
    B = S.BuiltinOperator
    unary("logistic", B.LOGISTIC, None, None, (0.1, 3), (1 / 256, -128))
    unary("logistic_fine_input", B.LOGISTIC, None, None, (0.02, -50), (1 / 256, -128))
    unary("tanh", B.TANH, None, None, (0.05, 0), (1 / 128, 0))
    unary("tanh_offset", B.TANH, None, None, (0.3, 20), (0.01, -3))
    unary("relu", B.RELU, None, None, (0.1, -10), (0.05, -128))
    unary("relu_same_quantization", B.RELU, None, None, (0.1, -10), (0.1, -10))
    unary("relu6", B.RELU6, None, None, (0.06, 5), (6 / 255, -128))
    unary("relu_n1_to_1", B.RELU_N1_TO_1, None, None, (0.02, 0), (1 / 127, 0))
    leaky_relu("leaky_relu", 0.1, (0.1, 3), (0.08, -20))
    leaky_relu("leaky_relu_negative_alpha", -0.5, (0.05, -7), (0.04, 10))
    unary("hard_swish", B.HARD_SWISH, S.BuiltinOptions.HardSwishOptions, S.HardSwishOptionsT(),
          (0.05, -10), (0.03, -100))
    unary("hard_swish_wide", B.HARD_SWISH, S.BuiltinOptions.HardSwishOptions,
          S.HardSwishOptionsT(), (0.1, 20), (0.02, 0))
    # TRANSPOSE: PyTorch's NCHW input made NHWC, other ranks.
    transpose("transpose_nchw_to_nhwc", [1, 3, 8, 6], [0, 2, 3, 1], (0.02, -14))
    transpose("transpose_rank3", [4, 5, 6], [2, 0, 1], (0.1, 0))
    transpose("transpose_rank2", [7, 9], [1, 0], (0.3, 5))
    transpose("transpose_all_axes", [2, 3, 4, 5], [3, 1, 0, 2], (0.05, -1))
    # MEAN: TFLite takes three paths for int8 (4-D over height and width keeping dims; the
    # same quantization in and out; the rest), each here.
    mean("mean_hw_keep", [1, 5, 6, 8], [1, 2], True, (0.1, 3), (0.05, -7))
    mean("mean_hw_keep_same_quantization", [2, 7, 7, 16], [2, 1], True, (0.07, -9), (0.07, -9))
    mean("mean_hw_drop", [1, 5, 6, 8], [1, 2], False, (0.1, 3), (0.03, 10))
    mean("mean_hw_drop_same_quantization", [1, 5, 6, 8], [1, 2], False, (0.1, 3), (0.1, 3))
    mean("mean_last_axis", [3, 4, 10], [-1], False, (0.02, -100), (0.01, 20))
    mean("mean_channels_same_quantization", [2, 3, 4, 5], [3], True, (0.2, 7), (0.2, 7))
    mean("mean_three_axes", [2, 3, 4, 5], [0, 2, 3], True, (0.04, 0), (0.01, -3))
    # SLICE, STRIDED_SLICE (masks, negative indices and strides, shrinking), SPLIT, SPLIT_V.
    ints = lambda v: const(np.array(v, dtype=np.int32), S.TensorType.INT32)
    write("slice", model(S.BuiltinOperator.SLICE, S.BuiltinOptions.SliceOptions, S.SliceOptionsT(),
          [act([2, 6, 7, 5], 0.1, 3), ints([1, 2, 0, 1]), ints([1, 3, -1, 2])],
          act([1, 3, 7, 2], 0.1, 3), version=2))
    strided_slice("strided_slice_steps", [1, 9, 10, 4], [0, 1, -9, 0], [1, 9, 10, 4], [1, 2, 3, 1],
                  [1, 4, 3, 4], (0.05, -2))
    strided_slice("strided_slice_masks_reverse", [3, 8, 5], [2, 6, 0], [0, 1, 5], [-1, -2, 1],
                  [3, 3, 5], (0.2, 9), begin_mask=0b001, end_mask=0b101)
    strided_slice("strided_slice_shrink", [4, 6, 8], [1, 0, 2], [2, 6, 8], [1, 1, 2], [6, 3],
                  (0.1, 0), shrink=0b001)
    split_graph("split_channels", [1, 4, 4, 6], 3, [2, 2, 2], (0.1, 1), variable=False)
    split_graph("split_v_rows", [2, 9, 3], 1, [4, 2, 3], (0.3, -5), variable=True)
    # RESIZE_NEAREST_NEIGHBOR: upsampling by 2, odd factors both ways, each flag.
    resize_nearest("resize_nearest_x2", [1, 4, 5, 3], [8, 10], (0.1, 2))
    resize_nearest("resize_nearest_odd", [2, 5, 7, 2], [3, 11], (0.2, -4))
    resize_nearest("resize_nearest_align_corners", [1, 5, 7, 2], [9, 4], (0.2, -4),
                   align_corners=True)
    resize_nearest("resize_nearest_half_pixel", [1, 5, 7, 2], [12, 3], (0.2, -4),
                   half_pixel_centers=True)
    # RESIZE_BILINEAR: upsampling by 2 (the segmenters' decoder), odd factors both ways,
    # each flag (half-pixel centres give the first rows a negative fraction).
    resize_bilinear("resize_bilinear_x2", [1, 4, 5, 3], [8, 10], (0.1, 2))
    resize_bilinear("resize_bilinear_odd", [2, 5, 7, 2], [3, 11], (0.2, -4))
    resize_bilinear("resize_bilinear_align_corners", [1, 5, 7, 2], [9, 4], (0.2, -4),
                    align_corners=True)
    resize_bilinear("resize_bilinear_half_pixel", [1, 5, 7, 2], [12, 3], (0.2, -4),
                    half_pixel_centers=True)
    resize_bilinear("resize_bilinear_half_pixel_x4", [1, 3, 4, 5], [12, 16], (0.05, 10),
                    half_pixel_centers=True)
    # BATCH_MATMUL: two activations with zero points; broadcast batches; a constant right
    # operand stored transposed (adj_y) and a transposed left one (adj_x); a long reduction.
    def matmul(adj_x=False, adj_y=False):
        o = S.BatchMatMulOptionsT()
        o.adjX, o.adjY = adj_x, adj_y
        return (S.BuiltinOperator.BATCH_MATMUL, S.BuiltinOptions.BatchMatMulOptions, o)
    write("batch_matmul_plain", model(*matmul(), [act([2, 3, 5], 0.05, 3), act([2, 5, 4], 0.04, -7)],
          act([2, 3, 4], 0.2, 10)))
    write("batch_matmul_broadcast", model(*matmul(), [act([2, 1, 3, 6], 0.03, -2),
          act([1, 4, 6, 2], 0.05, 11)], act([2, 4, 3, 2], 0.1, 0)))
    weights = np.random.default_rng(27).integers(-128, 128, size=(7, 9), dtype=np.int8)
    write("batch_matmul_const_adj_y", model(*matmul(adj_y=True), [act([1, 4, 9], 0.02, 0),
          const(weights, S.TensorType.INT8, (0.01, 0))], act([1, 4, 7], 0.05, -3)))
    write("batch_matmul_adj_x_deep", model(*matmul(adj_x=True), [act([300, 5], 0.01, 20),
          act([300, 3], 0.02, -50)], act([5, 3], 0.5, 1)))
    # PRELU: slopes per channel (a constant, positive and negative), one slope, slopes
    # as an activation of the input's shape.
    prelu = (S.BuiltinOperator.PRELU, None, None)
    rng = np.random.default_rng(26)
    write("prelu_channels", model(*prelu, [act([1, 5, 5, 6], 0.05, 4),
          const(rng.integers(-128, 128, size=(1, 1, 6), dtype=np.int8), S.TensorType.INT8,
                (0.004, -10))], act([1, 5, 5, 6], 0.04, -20)))
    write("prelu_scalar_slope", model(*prelu, [act([2, 7, 3], 0.1, -30),
          const(np.array([100], dtype=np.int8), S.TensorType.INT8, (0.002, 0))],
          act([2, 7, 3], 0.09, -100)))
    write("prelu_slopes_input", model(*prelu, [act([3, 4, 5], 0.03, 0), act([3, 4, 5], 0.01, 7)],
          act([3, 4, 5], 0.05, 3)))
    # GATHER: constant indices on the first and last axes (int32, int64, 2-D), an embedding
    # table (a constant) read at run-time indices, run-time indices per batch.
    gather("gather_axis0", act([5, 3, 4], 0.1, 3), np.array([2, 0, 4, 4], dtype=np.int32), 0,
           [4, 3, 4], (0.1, 3))
    gather("gather_last_axis_int64", act([2, 3, 6], 0.2, -5),
           np.array([[1, 5], [0, 0]], dtype=np.int64), 2, [2, 3, 2, 2], (0.2, -5))
    table = np.random.default_rng(7).integers(-128, 128, size=(10, 8), dtype=np.int8)
    gather("gather_embedding", const(table, S.TensorType.INT8, (0.05, 1)), [1, 6], 0,
           [1, 6, 8], (0.05, 1), index_bound=10)
    gather("gather_batch_dims", act([2, 5, 3], 0.3, 0), [2, 4], 1, [2, 4, 3], (0.3, 0),
           batch_dims=1, index_bound=5)
    # TRANSPOSE_CONV: 2x upsampling with SAME padding (even and odd kernels), VALID, a
    # stride of 1, no bias, a fused RELU, two images.
    transpose_conv("transpose_conv_same_x2", [1, 4, 5, 6], (3, 3), 7, (2, 2), S.Padding.SAME,
                   (0.05, -3), (0.1, 4))
    transpose_conv("transpose_conv_same_k4", [2, 3, 3, 4], (4, 4), 5, (2, 2), S.Padding.SAME,
                   (0.03, 10), (0.08, -7), activation="relu")
    transpose_conv("transpose_conv_valid", [1, 5, 4, 3], (3, 2), 6, (2, 3), S.Padding.VALID,
                   (0.04, 0), (0.12, 2), bias=False)
    transpose_conv("transpose_conv_stride1", [1, 6, 6, 8], (3, 3), 4, (1, 1), S.Padding.SAME,
                   (0.02, -20), (0.05, 1))
    # SOFTMAX to int16 (keyword models end so), and QUANTIZE between int8, int16, int32.
    softmax_opts = S.SoftmaxOptionsT()
    softmax_opts.beta = 1.0
    write("softmax_int16_output", model(S.BuiltinOperator.SOFTMAX, S.BuiltinOptions.SoftmaxOptions,
          softmax_opts, [act([3, 10], 0.1, -5)],
          {"shape": [3, 10], "type": S.TensorType.INT16, "q": (1 / 65536, -32768)}, version=3))
    i16 = lambda shape, scale, zp: {"shape": shape, "type": S.TensorType.INT16, "q": (scale, zp)}  # noqa: E731
    write("quantize_int16_to_int8", model(S.BuiltinOperator.QUANTIZE, None, None,
          [i16([2, 50], 0.0007, 0)], act([2, 50], 0.08, -3), version=4))
    write("quantize_int8_to_int16", model(S.BuiltinOperator.QUANTIZE, None, None,
          [act([40], 0.05, 9)], i16([40], 0.001, 0), version=4))
    write("quantize_int16_to_int32", model(S.BuiltinOperator.QUANTIZE, None, None,
          [i16([30], 0.002, 0)], {"shape": [30], "type": S.TensorType.INT32, "q": (0.0001, 5)},
          version=4))
    # SVDF, integer: rank 1 and 2, two batches, without bias, non-zero zero points.
    svdf("svdf_rank1", 1, 12, 6, 1, 5, (0.05, 3), (0.1, -10), 0.02)
    svdf("svdf_rank2_batches", 2, 9, 4, 2, 7, (0.03, -20), (4.0, 7), 0.01)
    svdf("svdf_no_bias", 1, 16, 8, 1, 3, (0.02, 0), (0.08, -3), 0.015, bias=False)
    # Their memory over consecutive invokes (the state shifts across filters and batches).
    stream("svdf_rank2_batches", 9)
    stream("lstm_batches_clip", 3)
    # UNIDIRECTIONAL_SEQUENCE_LSTM, integer: one sequence; two sequences with non-zero zero
    # points and a cell clip that bites; time-major; another cell scale and a hidden
    # intermediate quantized apart from the output state.
    lstm("lstm_single", 1, 6, 5, 4, (0.02, 3), (0.008, 0), -12)
    lstm("lstm_batches_clip", 2, 5, 7, 9, (0.05, -20), (0.01, 5), -11, cell_clip=1.5)
    lstm("lstm_time_major", 3, 4, 6, 5, (0.03, 7), (0.006, -2), -12, time_major=True)
    lstm("lstm_hidden_apart", 2, 7, 3, 6, (0.04, -1), (0.009, 10), -10,
         hidden_q=(0.011, -4))
    ints = lambda v: const(np.array(v, dtype=np.int32), S.TensorType.INT32)  # noqa: E731
    # Most operators in one graph, their outputs planned in one arena (also the runtime's
    # corruption-test fixture, runtime/tests/data/ops_chain.eqm).
    q = (0.05, -3)
    B, O = S.BuiltinOperator, S.BuiltinOptions
    pad_opts = S.PadOptionsT()
    concat_opts = S.ConcatenationOptionsT()
    concat_opts.axis = 3
    mean_opts = S.ReducerOptionsT()
    mean_opts.keepDims = True
    slice_opts = S.StridedSliceOptionsT()
    resize_opts = S.ResizeNearestNeighborOptionsT()
    write("ops_chain", graph(
        {
            "x": act([1, 4, 4, 2], *q),
            "paddings": ints([[0, 0], [1, 1], [1, 1], [0, 0]]),
            "padded": act([1, 6, 6, 2], *q),
            "gain": const(np.array([[[[90, -40]]]], dtype=np.int8), S.TensorType.INT8, (0.01, 0)),
            "scaled": act([1, 6, 6, 2], 0.02, 5),
            "other": act([1, 6, 6, 3], 0.02, 5),
            "joined": act([1, 6, 6, 5], 0.02, 5),
            "product": act([1, 6, 6, 5], 0.03, -10),
            "difference": act([1, 6, 6, 5], 0.05, 0),
            "perm": ints([0, 3, 1, 2]),
            "transposed": act([1, 5, 6, 6], 0.05, 0),
            "begin": ints([0, 0, 0, 0]),
            "end": ints([1, 5, 6, 6]),
            "strides": ints([1, 2, 1, 2]),
            "sliced": act([1, 3, 6, 3], 0.05, 0),
            "size": ints([6, 12]),
            "resized": act([1, 6, 12, 3], 0.05, 0),
            "sigmoid": act([1, 6, 12, 3], 1 / 256, -128),
            "floor": const(np.array([-100], dtype=np.int8), S.TensorType.INT8, (1 / 256, -128)),
            "clipped": act([1, 6, 12, 3], 1 / 256, -128),
            "axes": ints([1, 2]),
            "mean": act([1, 1, 1, 3], 0.005, -100),
            "shape": ints([1, 3]),
            "flat": act([1, 3], 0.005, -100),
        },
        [
            (B.PAD, O.PadOptions, pad_opts, ["x", "paddings"], "padded", 2),
            (*mul, mul_options("none"), ["padded", "gain"], "scaled", 2),
            (B.CONCATENATION, O.ConcatenationOptions, concat_opts, ["scaled", "other"], "joined", 2),
            (*mul, mul_options("relu"), ["joined", "joined"], "product", 2),
            (*sub, sub_options("none"), ["product", "joined"], "difference", 2),
            (B.TRANSPOSE, O.TransposeOptions, S.TransposeOptionsT(), ["difference", "perm"],
             "transposed", 2),
            (B.STRIDED_SLICE, O.StridedSliceOptions, slice_opts,
             ["transposed", "begin", "end", "strides"], "sliced", 4),
            (B.RESIZE_NEAREST_NEIGHBOR, O.ResizeNearestNeighborOptions, resize_opts,
             ["sliced", "size"], "resized", 3),
            (B.LOGISTIC, None, None, ["resized"], "sigmoid", 2),
            (B.MAXIMUM, O.MaximumMinimumOptions, S.MaximumMinimumOptionsT(), ["sigmoid", "floor"],
             "clipped", 2),
            (B.MEAN, O.ReducerOptions, mean_opts, ["clipped", "axes"], "mean", 2),
            (B.RESHAPE, None, None, ["mean", "shape"], "flat", 1),
        ],
    ), layers=True)
    # The operators added after that chain in one graph (the runtime's second corruption-test
    # fixture, runtime/tests/data/ops_chain2.eqm): upsample, decode, gate, pick, project.
    rng = np.random.default_rng(2)
    bilinear_opts = S.ResizeBilinearOptionsT()
    bilinear_opts.halfPixelCenters = True
    tconv_opts = S.TransposeConvOptionsT()
    tconv_opts.padding, tconv_opts.strideH, tconv_opts.strideW = S.Padding.SAME, 2, 2
    gather_opts = S.GatherOptionsT()
    gather_opts.axis = 3
    matmul_opts = S.BatchMatMulOptionsT()
    write("ops_chain2", graph(
        {
            "x": act([1, 3, 3, 3], 0.05, -3),
            "size": ints([6, 6]),
            "upsampled": act([1, 6, 6, 3], 0.05, -3),
            "out_shape": ints([1, 12, 12, 4]),
            "filter": const(rng.integers(-127, 128, size=(4, 3, 3, 3), dtype=np.int8),
                            S.TensorType.INT8, (np.array([0.01, 0.02, 0.015, 0.005]), 0)),
            "decoded": act([1, 12, 12, 4], 0.2, 5),
            "slopes": const(rng.integers(-128, 128, size=(1, 1, 4), dtype=np.int8),
                            S.TensorType.INT8, (0.004, 3)),
            "gated": act([1, 12, 12, 4], 0.15, -40),
            "picks": const(np.array([3, 0, 2], dtype=np.int32), S.TensorType.INT32),
            "picked": act([1, 12, 12, 3], 0.15, -40),
            "rows": ints([12, 36]),
            "flat": act([12, 36], 0.15, -40),
            "projection": const(rng.integers(-128, 128, size=(36, 5), dtype=np.int8),
                                S.TensorType.INT8, (0.01, 0)),
            "projected": act([12, 5], 0.5, 2),
        },
        [
            (B.RESIZE_BILINEAR, O.ResizeBilinearOptions, bilinear_opts, ["x", "size"],
             "upsampled", 3),
            (B.TRANSPOSE_CONV, O.TransposeConvOptions, tconv_opts,
             ["out_shape", "filter", "upsampled"], "decoded", 4),
            (B.PRELU, None, None, ["decoded", "slopes"], "gated", 1),
            (B.GATHER, O.GatherOptions, gather_opts, ["gated", "picks"], "picked", 5),
            (B.RESHAPE, None, None, ["picked", "rows"], "flat", 1),
            (B.BATCH_MATMUL, O.BatchMatMulOptions, matmul_opts, ["flat", "projection"],
             "projected", 1),
        ],
    ), layers=True)


if __name__ == "__main__":
    main()
