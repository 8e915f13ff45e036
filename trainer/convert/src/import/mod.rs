//! Importers: models people already have, lowered to `.eqm`.

pub mod onnx;
pub mod tables;
pub mod tflite;

use anyhow::{bail, Context, Result};
use std::path::Path;

use crate::eqm::ModelBuilder;

/// How an import writes its model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Pack conv and fully connected weights for the SIMD GEMM kernels (the default). Off,
    /// the file keeps TFLite's weight layouts and runs on the reference kernels: slower, for
    /// checking the fast path against the oracle.
    pub pack_weights: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self { pack_weights: true }
    }
}

/// Imports a model file with default options, choosing the front end by extension.
pub fn import_file(path: &Path) -> Result<Vec<u8>> {
    import_file_with(path, ImportOptions::default())
}

/// A model file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// int8 TFLite flatbuffers.
    Tflite,
    /// Quantized ONNX (QDQ, QLinear, ONNX Runtime's QOperator ops).
    Onnx,
}

/// Imports a model file, choosing the front end by extension.
pub fn import_file_with(path: &Path, options: ImportOptions) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let builder = match path.extension().and_then(|e| e.to_str()) {
        Some("tflite") => tflite::lower(&bytes)?,
        // From the path: tensors stored beside the file are found.
        Some("onnx") => onnx::lower_quantized(path)?,
        _ => bail!(
            "unknown model type '{}': expected a .tflite or .onnx file",
            path.display()
        ),
    };
    finish(builder, options)
}

/// Imports a model held in memory: `.eqm` bytes or an error, for any input bytes.
pub fn import_bytes(format: Format, bytes: &[u8], options: ImportOptions) -> Result<Vec<u8>> {
    let builder = match format {
        Format::Tflite => tflite::lower(bytes)?,
        Format::Onnx => onnx::lower_quantized_bytes(bytes)?,
    };
    finish(builder, options)
}

fn finish(mut builder: ModelBuilder, options: ImportOptions) -> Result<Vec<u8>> {
    if options.pack_weights {
        crate::pack::pack_gemm_weights(&mut builder)?;
    }
    let bytes = builder.finish()?;
    // The importers check what the runtime needs; a corrupted file can still get past them
    // (fuzzing found such cases). The runtime's own validator has the last word, so no model
    // it would refuse leaves the importer.
    let aligned = edgeq_runtime::ModelBytes::copy_from(&bytes);
    if let Err(e) = edgeq_runtime::Model::from_bytes(aligned.bytes()) {
        bail!("the model's parameters are inconsistent (is the file corrupted?): {e}");
    }
    Ok(bytes)
}
