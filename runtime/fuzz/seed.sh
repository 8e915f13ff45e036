#!/usr/bin/env bash
# Seeds the fuzz corpus with the bundled MLPerf Tiny models, imported to .eqm.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
corpus="$root/runtime/fuzz/corpus/load_invoke"
mkdir -p "$corpus"
for m in "$root"/examples/data/mlperf-tiny/models/*.tflite; do
  cargo run -q --release -p edgeq-convert -- import "$m" -o "$corpus/$(basename "$m" .tflite).eqm"
done
# Most operators in two small graphs (PAD, MUL, CONCATENATION, SUB, TRANSPOSE, SLICE, both
# resizes, LOOKUP, MAXIMUM, MEAN, RESHAPE views, TRANSPOSE_CONV, PRELU, GATHER, BATCH_MATMUL).
cp "$root/runtime/tests/data/ops_chain.eqm" "$root/runtime/tests/data/ops_chain2.eqm" "$corpus/"
# An integer LSTM (state in its scratch, int16 gates).
cp "$root/runtime/tests/data/lstm.eqm" "$corpus/"
# 4-bit and mixed models: int4 weights, uint4 activations, their scratch.
for arch in ds-cnn resnet8 autoencoder; do
  for bits in w4a4 w4a8 w8a4; do
    cargo run -q --release -p edgeq-convert -- synth --arch "$arch" --bits "$bits" \
      -o "$corpus/synth-$arch-$bits.eqm"
  done
done
