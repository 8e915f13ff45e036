//! Host conveniences (feature `std`): reading a model file into aligned memory.

use std::vec::Vec;

/// 16 bytes at a 16-byte aligned address (`u128` is only 8-aligned on some targets, armv7
/// among them).
#[repr(C, align(16))]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Chunk([u8; 16]);

/// Model bytes owned in 16-byte aligned storage.
pub struct ModelBytes {
    storage: Vec<Chunk>,
    len: usize,
}

impl ModelBytes {
    /// Copies `bytes` into aligned storage.
    pub fn copy_from(bytes: &[u8]) -> Self {
        let mut storage = std::vec![Chunk([0; 16]); bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<Chunk, u8>(&mut storage)[..bytes.len()].copy_from_slice(bytes);
        Self {
            storage,
            len: bytes.len(),
        }
    }

    /// The bytes (16-byte aligned).
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<Chunk, u8>(&self.storage)[..self.len]
    }
}

/// Reads a model file into aligned memory; parse it with `Model::from_bytes(x.bytes())`.
pub fn load_model_file(path: impl AsRef<std::path::Path>) -> std::io::Result<ModelBytes> {
    Ok(ModelBytes::copy_from(&std::fs::read(path)?))
}
