//! The trainer's commands beyond import and inspect: `train`, `demo`, `ablate`.

pub mod ablate;
pub mod augment;
pub mod demo;
pub mod import;
pub mod lab;
pub mod ptq_study;
pub mod train;
