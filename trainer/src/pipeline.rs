//! The steps every command is made of: train a float network, quantize it and continue
//! with QAT (+ KD), export to `.eqm` and score it with the runtime.

use anyhow::Result;
use burn::module::Module;
use serde::Serialize;

use crate::data::{Dataset, Splits};
use crate::evaluate::{runtime_predictions, Score};
use crate::nn::{images_tensor, BitPlan, Net, NetSpec};
use crate::train::teacher::Ensemble;
use crate::train::{self, predict, EpochLog, Progress, Recipe};

/// A trained network with what describes it.
#[derive(Clone, Debug)]
pub struct Trained {
    /// The network (on the training device).
    pub net: Net,
    /// Its spec.
    pub spec: NetSpec,
    /// Per-epoch log of the last training stage.
    pub logs: Vec<EpochLog>,
}

/// Images used to initialise activation steps when QAT starts.
pub const CALIBRATION_IMAGES: usize = 256;

/// Trains a float `arch` on `splits.train` (evaluating on the test split each epoch).
pub fn train_float(
    arch: &str,
    splits: &Splits,
    recipe: &Recipe,
    teachers: &Ensemble,
    progress: &mut dyn Progress,
) -> Result<Trained> {
    let spec = NetSpec {
        arch: arch.to_string(),
        input: splits.train.shape,
        classes: splits.train.classes,
        bits: None,
    };
    let net = Net::new(&spec, recipe.seed, &train::train_device())?;
    fit(net, spec, splits, recipe, teachers, progress)
}

/// Folds batch norm, attaches quantizers for `bits` (steps calibrated on the first
/// training images) and trains with QAT.
pub fn train_qat(
    float: &Trained,
    bits: BitPlan,
    splits: &Splits,
    recipe: &Recipe,
    teachers: &Ensemble,
    progress: &mut dyn Progress,
) -> Result<Trained> {
    let calib = splits.train.take(CALIBRATION_IMAGES);
    let x = images_tensor(
        calib.pixels,
        calib.labels.len(),
        calib.shape,
        &train::train_device(),
    );
    let net = float.net.clone().into_qat(bits, x)?;
    let spec = NetSpec {
        bits: Some(bits),
        ..float.spec.clone()
    };
    fit(net, spec, splits, recipe, teachers, progress)
}

/// Trains `net` on the training split, evaluating on the test split each epoch.
fn fit(
    net: Net,
    spec: NetSpec,
    splits: &Splits,
    recipe: &Recipe,
    teachers: &Ensemble,
    progress: &mut dyn Progress,
) -> Result<Trained> {
    let (net, logs) = train::train(
        net,
        &splits.train,
        Some(&splits.test),
        recipe,
        teachers,
        progress,
    )?;
    Ok(Trained { net, spec, logs })
}

/// A quantized network exported and scored.
#[derive(Clone, Debug, Serialize)]
pub struct Exported {
    /// The `.eqm` bytes.
    #[serde(skip)]
    pub eqm: Vec<u8>,
    /// The runtime's accuracy on the test set.
    pub runtime: Score,
    /// The fake-quant network's accuracy on the same images.
    pub fake_quant_accuracy: f32,
    /// Fraction of test images where fake-quant and runtime predict the same class.
    pub agreement: f32,
}

/// Exports a quantized network and scores it on `test` with the runtime, comparing the
/// runtime's predictions with the fake-quant network's.
pub fn export_and_score(student: &Trained, test: &Dataset) -> Result<Exported> {
    let eqm = crate::export::to_eqm(&student.net, &student.spec)?;
    let ours = runtime_predictions(&eqm, test)?;
    let theirs = predict(&student.net.valid(), test)?;
    let same = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
    let runtime = crate::evaluate::score_predictions(&ours, test);
    Ok(Exported {
        eqm,
        runtime,
        fake_quant_accuracy: train::accuracy(&theirs, &test.labels),
        agreement: same as f32 / test.len().max(1) as f32,
    })
}

/// Float accuracy of a network on `data`.
pub fn float_accuracy(net: &Net, data: &Dataset) -> Result<f32> {
    Ok(train::accuracy(&predict(&net.valid(), data)?, &data.labels))
}
