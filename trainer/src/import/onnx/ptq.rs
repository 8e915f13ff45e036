//! Post-training quantization (placeholder while written).
