//! edgeq's trainer: quantized students trained with distillation (QAT + KD + GoR) on burn,
//! exported to `.eqm` (or float ONNX); the `edgeq` CLI.
//!
//! Conversion (import, the `.eqm` writer, packing, inspect, synth, datasets, scoring by the
//! runtime) lives in `edgeq-convert`, which has no training stack; its modules are
//! re-exported here under their own names, so `edgeq_trainer::data` is `edgeq_convert::data`.

pub use edgeq_convert::{data, emit, eqm, evaluate, import, inspect, pack, synth};

pub mod augment;
pub mod commands;
pub mod export;
pub mod nn;
pub mod pipeline;
pub mod train;
