#!/usr/bin/env bash
# The main job for now: import the bundled MLPerf Tiny keyword-spotting model (int8 TFLite),
# inspect it, and classify the bundled real MFCC sample with edgeq's integer runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
data=examples/data/mlperf-tiny
out=target/demo
mkdir -p "$out"
echo "building (release)..."
cargo build -q --release -p edgeq-convert -p edgeq-bench
./target/release/edgeq-convert import "$data/models/kws_ref_model.tflite" -o "$out/kws.eqm"
./target/release/edgeq-convert inspect "$out/kws.eqm"
echo
echo "classifying $data/kws_sample0_int8.npy (a real MFCC of the keyword 'on'):"
./target/release/edgeq-bench infer "$out/kws.eqm" \
  --input "$data/kws_sample0_int8.npy" --output "$out/kws_scores.npy" \
  --labels down,go,left,no,off,on,right,stop,up,yes,silence,unknown
