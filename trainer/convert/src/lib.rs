//! edgeq's model converter: everything between a model file and an `.eqm` the runtime loads,
//! with no training stack in its dependency tree.
//!
//! - [`import`]: int8 TFLite, quantized ONNX (QDQ, QLinear, ONNX Runtime's QOperator ops), and
//!   float ONNX through post-training quantization ([`import::onnx::ptq`]);
//! - [`emit`] lowers layers to runtime ops with TFLite's exact requantization constants,
//!   [`pack`] lays weights out for the SIMD kernels, [`eqm`] writes and plans the file;
//! - [`inspect`], [`synth`] (random but valid MLPerf Tiny architectures at any bit width),
//!   [`data`] (datasets for calibration and scoring) and [`evaluate`] (accuracy by the
//!   runtime itself);
//! - [`cli`]: the subcommands, shared by the `edgeq-convert` binary and the `edgeq` CLI.

pub mod cli;
pub mod data;
pub mod emit;
pub mod eqm;
pub mod evaluate;
pub mod import;
pub mod inspect;
pub mod pack;
pub mod synth;
