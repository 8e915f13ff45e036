#!/usr/bin/env bash
# Seeds the fuzz corpus with the bundled MLPerf Tiny models, imported to .eqm.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
corpus="$root/runtime/fuzz/corpus/load_invoke"
mkdir -p "$corpus"
for m in "$root"/examples/data/mlperf-tiny/models/*.tflite; do
  cargo run -q --release -p edgeq-trainer --bin edgeq -- import "$m" -o "$corpus/$(basename "$m" .tflite).eqm"
done
