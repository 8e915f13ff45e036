//! The trainer's commands (import, inspect and synth are `edgeq_convert::cli`'s).

pub mod ablate;
pub mod augment;
pub mod demo;
pub mod lab;
pub mod ptq_study;
pub mod train;
