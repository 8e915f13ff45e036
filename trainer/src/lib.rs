//! edgeq host tools: model import, inspection, and the `.eqm` writer.
//! (Training, distillation and export arrive with the trainer issue.)

pub mod eqm;
pub mod import;
pub mod inspect;
pub mod pack;
pub mod synth;
