"""Regenerates the ONNX import fixtures (run from this folder; needs numpy, onnx and
onnxruntime from PyPI; nothing here runs at test time).

- cnn_float.onnx: the trainer's `cnn` student, float, 2 epochs on the bundled MNIST digits
  (`edgeq train --arch cnn --epochs 2 -o cnn --onnx`).
- cnn_ort_qdq_u8.onnx / cnn_ort_qop_s8.onnx: that model quantized by ONNX Runtime's
  `quantize_static` (256 training digits, per-channel int8 weights), QDQ with uint8
  activations and QOperator (QLinearConv, com.microsoft QGemm/QLinearGlobalAveragePool)
  with int8 activations.
- bn_net.onnx: a random float network with Conv -> BatchNormalization -> Relu -> MaxPool
  -> depthwise Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm, for PTQ's batch-norm
  folding.
- mlp_qop.onnx: a random float MLP (Reshape, MatMul + Add, Relu, MatMul + Add) quantized by
  `quantize_static` to QOperator (QLinearMatMul, com.microsoft QLinearAdd with a constant
  bias operand), calibrated on 64 uniform random images.
- expected_NAME.npy: ONNX Runtime's float32 outputs [32, 10] for the first 32 bundled test
  digits of each model.
"""
import gzip
import struct

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)

DATA = "../../../../data/mnist-10k/"


def digits(name):
    with gzip.open(DATA + name) as f:
        d = f.read()
    n = struct.unpack(">I", d[4:8])[0]
    return np.frombuffer(d[16:], np.uint8).reshape(n, 1, 28, 28).astype(np.float32) / 255


train = digits("train-images-idx3-ubyte.gz")[:256]
test = digits("t10k-images-idx3-ubyte.gz")[:32]


class Reader(CalibrationDataReader):
    """Feeds `images` one at a time as the model's `input`."""

    def __init__(self, images):
        self.images = images
        self.i = 0

    def get_next(self):
        if self.i >= len(self.images):
            return None
        self.i += 1
        return {"input": self.images[self.i - 1:self.i]}


quantize_static("cnn_float.onnx", "cnn_ort_qdq_u8.onnx", Reader(train), quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
quantize_static("cnn_float.onnx", "cnn_ort_qop_s8.onnx", Reader(train),
                quant_format=QuantFormat.QOperator, activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8, per_channel=True)

rng = np.random.default_rng(1)
const = lambda name, a: numpy_helper.from_array(np.asarray(a, np.float32), name)
inits = [
    const("w1", rng.normal(0, 0.5, (8, 1, 3, 3))), const("b1", rng.normal(0, 0.1, 8)),
    const("gamma", rng.uniform(0.5, 1.5, 8)), const("beta", rng.normal(0, 0.2, 8)),
    const("mean", rng.normal(0, 0.3, 8)), const("var", rng.uniform(0.2, 2.0, 8)),
    const("w2", rng.normal(0, 0.5, (8, 1, 3, 3))), const("b2", rng.normal(0, 0.1, 8)),
    const("w3", rng.normal(0, 0.5, (10, 8))), const("b3", rng.normal(0, 0.1, 10)),
]
nodes = [
    helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
    helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn"],
                     epsilon=1e-3),
    helper.make_node("Relu", ["bn"], ["r1"]),
    helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=8),
    helper.make_node("Relu", ["c2"], ["r2"]),
    helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
    helper.make_node("Flatten", ["g"], ["f"]),
    helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], transB=1),
]
graph = helper.make_graph(
    nodes, "bn_net", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, "bn_net.onnx")

inits = [
    const("w1", rng.normal(0, 0.05, (784, 16))), const("b1", rng.normal(0, 0.1, 16)),
    const("w2", rng.normal(0, 0.3, (16, 10))), const("b2", rng.normal(0, 0.1, 10)),
    numpy_helper.from_array(np.array([-1, 784], np.int64), "shape"),
]
nodes = [
    helper.make_node("Reshape", ["input", "shape"], ["f"]),
    helper.make_node("MatMul", ["f", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
    helper.make_node("Relu", ["a1"], ["r1"]),
    helper.make_node("MatMul", ["r1", "w2"], ["m2"]), helper.make_node("Add", ["m2", "b2"], ["logits"]),
]
graph = helper.make_graph(
    nodes, "mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.save(model, "/tmp/mlp_float.onnx")
noise = rng.uniform(0, 1, (64, 1, 28, 28)).astype(np.float32)


quantize_static("/tmp/mlp_float.onnx", "mlp_qop.onnx", Reader(noise),
                quant_format=QuantFormat.QOperator, activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8)

for name in ["cnn_ort_qdq_u8", "cnn_ort_qop_s8", "mlp_qop", "bn_net"]:
    s = ort.InferenceSession(name + ".onnx", providers=["CPUExecutionProvider"])
    out = np.concatenate([s.run(None, {"input": test[i:i + 1]})[0] for i in range(32)])
    np.save("expected_" + name + ".npy", out.astype(np.float32))
