//! Checkpoints: the parameters in burn's burnpack format (`NAME.bpk`) and the [`NetSpec`]
//! as JSON beside it (`NAME.json`), which also carries the training results.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{BitPlan, Net, NetSpec};

/// The JSON half of a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    /// How to rebuild the network.
    pub spec: NetSpec,
    /// Anything the trainer wants to keep (results, recipe).
    #[serde(default)]
    pub info: serde_json::Value,
}

/// The `.json` beside a `.bpk`.
pub fn meta_path(bpk: &Path) -> PathBuf {
    bpk.with_extension("json")
}

/// Writes `net` to `path` (`.bpk`) and its meta to `path.json`.
pub fn save(net: &Net, meta: &Meta, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut store = BurnpackStore::from_file(path)
        .overwrite(true)
        .auto_extension(false);
    net.save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("writing {}: {e:?}", path.display()))?;
    std::fs::write(meta_path(path), serde_json::to_string_pretty(meta)?)
        .with_context(|| format!("writing {}", meta_path(path).display()))
}

/// Reads a checkpoint written by [`save`].
pub fn load(path: &Path, device: &Device) -> Result<(Net, Meta)> {
    let meta_file = meta_path(path);
    let meta: Meta = serde_json::from_str(
        &std::fs::read_to_string(&meta_file)
            .with_context(|| format!("reading {} (the checkpoint's spec)", meta_file.display()))?,
    )
    .with_context(|| format!("parsing {}", meta_file.display()))?;
    let mut net = Net::new(
        &NetSpec {
            bits: None,
            ..meta.spec.clone()
        },
        0,
        device,
    )?;
    if let Some(bits) = meta.spec.bits {
        net = quantized_skeleton(net, bits, &meta.spec, device)?;
    }
    let mut store = BurnpackStore::from_file(path).auto_extension(false);
    net.load_from(&mut store)
        .map_err(|e| anyhow::anyhow!("reading {}: {e:?}", path.display()))?;
    Ok((net, meta))
}

/// A quantized network of the right structure (values are overwritten by the load).
fn quantized_skeleton(net: Net, bits: BitPlan, spec: &NetSpec, device: &Device) -> Result<Net> {
    let [c, h, w] = spec.input;
    let calibration = Tensor::zeros([1, c, h, w], device);
    net.into_qat(bits, calibration)
}
