//! edgeq host tools: training quantized students with distillation (QAT + KD + GoR),
//! export to `.eqm`, import of TFLite models, inspection, and evaluation with the runtime.

pub mod commands;
pub mod data;
pub mod emit;
pub mod eqm;
pub mod evaluate;
pub mod export;
pub mod import;
pub mod inspect;
pub mod nn;
pub mod pack;
pub mod pipeline;
pub mod synth;
pub mod train;
