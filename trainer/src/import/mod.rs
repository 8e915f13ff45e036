//! Importers: models people already have, lowered to `.eqm`.

pub mod onnx;
pub mod tflite;

use anyhow::{bail, Context, Result};
use std::path::Path;

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

/// Imports a model file, choosing the front end by extension.
pub fn import_file_with(path: &Path, options: ImportOptions) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut builder = match path.extension().and_then(|e| e.to_str()) {
        Some("tflite") => tflite::lower(&bytes)?,
        Some("onnx") => onnx::lower_quantized(path)?,
        _ => bail!(
            "unknown model type '{}': expected a .tflite or .onnx file",
            path.display()
        ),
    };
    if options.pack_weights {
        crate::pack::pack_gemm_weights(&mut builder)?;
    }
    builder.finish()
}
