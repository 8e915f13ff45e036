#!/usr/bin/env bash
# Seeds the importers' fuzz corpora with the bundled models: the MLPerf Tiny TFLite files,
# the one-operator TFLite fixtures and the small public models, the ONNX conversions and the
# ONNX test fixtures.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
fuzz="$root/trainer/convert/fuzz/corpus"
mkdir -p "$fuzz/import_tflite" "$fuzz/import_onnx"
cp "$root"/examples/data/mlperf-tiny/models/*.tflite "$root"/trainer/convert/tests/data/tflite_ops/*.tflite \
  "$root"/trainer/convert/tests/data/public/{micro_speech,hello_world,mnist_lstm}.tflite "$fuzz/import_tflite/"
cp "$root"/examples/data/mlperf-tiny/onnx/*.onnx "$root"/trainer/convert/tests/data/onnx/*.onnx \
  "$fuzz/import_onnx/"
