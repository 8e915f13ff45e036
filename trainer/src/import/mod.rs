//! Importers: models people already have, lowered to `.eqm`.

pub mod tflite;

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Imports a model file, choosing the front end by extension.
pub fn import_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("tflite") => tflite::import(&bytes),
        Some("onnx") => {
            bail!("ONNX import is not implemented yet (tracked in the ONNX import issue)")
        }
        _ => bail!(
            "unknown model type '{}': expected a .tflite file",
            path.display()
        ),
    }
}
