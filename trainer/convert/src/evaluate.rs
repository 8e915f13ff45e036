//! Scoring `.eqm` models with `edgeq-runtime` itself: every accuracy the trainer reports
//! for a quantized model is the integer runtime's.

use anyhow::{anyhow, ensure, Result};
use edgeq_runtime::{DType, Interpreter, Model, ModelBytes};
use serde::Serialize;

use crate::data::Dataset;

/// Quantizes one `[C, H, W]` image to a model's int8 NHWC input of `scale` and
/// `zero_point` (exported students: 1/255 and −128, so pixels in `[0, 1]` are exact).
pub fn quantize_image(
    image: &[f32],
    [c, h, w]: [usize; 3],
    (scale, zero_point): (f32, i32),
    out: &mut [u8],
) {
    for ch in 0..c {
        for p in 0..h * w {
            let q = ((image[ch * h * w + p] / scale).round() as i32 + zero_point).clamp(-128, 127);
            out[p * c + ch] = q as i8 as u8;
        }
    }
}

/// The runtime's predicted class for every image of `data`.
pub fn runtime_predictions(eqm: &[u8], data: &Dataset) -> Result<Vec<usize>> {
    let bytes = ModelBytes::copy_from(eqm);
    let model = Model::from_bytes(bytes.bytes()).map_err(|e| anyhow!("loading the model: {e}"))?;
    let input = model.input(0).map_err(|e| anyhow!("{e}"))?;
    let output = model.output(0).map_err(|e| anyhow!("{e}"))?;
    let float_in = input.dtype == DType::F32;
    let float_out = output.dtype == DType::F32;
    ensure!(
        (float_in || input.dtype == DType::I8) && (float_out || output.dtype == DType::I8),
        "the model must take and return int8 or float32"
    );
    ensure!(
        input.len() == data.image_len(),
        "the model takes {} values, the data's images have {}",
        input.len(),
        data.image_len()
    );
    let mut arena = vec![0u8; model.arena_size()];
    let mut interp = Interpreter::new(&model, &mut arena).map_err(|e| anyhow!("{e}"))?;
    let mut predictions = Vec::with_capacity(data.len());
    for i in 0..data.len() {
        let buf = interp.input_bytes_mut(0).map_err(|e| anyhow!("{e}"))?;
        if float_in {
            let [c, h, w] = data.shape;
            let image = data.image(i);
            for ch in 0..c {
                for p in 0..h * w {
                    let at = 4 * (p * c + ch);
                    buf[at..at + 4].copy_from_slice(&image[ch * h * w + p].to_le_bytes());
                }
            }
        } else {
            quantize_image(
                data.image(i),
                data.shape,
                (input.scale, input.zero_point),
                buf,
            );
        }
        interp.invoke().map_err(|e| anyhow!("invoke: {e}"))?;
        let out = interp.output_bytes(0).map_err(|e| anyhow!("{e}"))?;
        predictions.push(if float_out {
            let logits: Vec<f32> = out
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            argmax(&logits)
        } else {
            let logits: Vec<i8> = out.iter().map(|&b| b as i8).collect();
            argmax(&logits)
        });
    }
    Ok(predictions)
}

/// Accuracy of a model over a dataset, as the runtime computes it.
#[derive(Clone, Debug, Serialize)]
pub struct Score {
    /// Fraction of correct predictions.
    pub accuracy: f32,
    /// Images scored.
    pub images: usize,
    /// Correct predictions.
    pub correct: usize,
    /// Predictions per class (confusion rows: true class, predicted class).
    pub confusion: Vec<Vec<usize>>,
}

/// Scores `eqm` on `data` with the runtime.
pub fn score(eqm: &[u8], data: &Dataset) -> Result<Score> {
    Ok(score_predictions(&runtime_predictions(eqm, data)?, data))
}

/// Accuracy and confusion of `predicted` classes against `data`'s labels.
pub fn score_predictions(predicted: &[usize], data: &Dataset) -> Score {
    let classes = data
        .classes
        .max(predicted.iter().copied().max().unwrap_or(0) + 1);
    let mut confusion = vec![vec![0; classes]; classes];
    let mut correct = 0;
    for (p, l) in predicted.iter().zip(&data.labels) {
        confusion[usize::from(*l)][*p] += 1;
        correct += usize::from(*p == usize::from(*l));
    }
    Score {
        accuracy: correct as f32 / data.len().max(1) as f32,
        images: data.len(),
        correct,
        confusion,
    }
}

/// Index of the largest value (the first on ties, as the runtime's argmax).
pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}
