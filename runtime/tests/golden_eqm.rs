//! The golden pairs of the bundled MLPerf Tiny models (TFLite reference-kernel outputs) on
//! the bundled `.eqm` files, with every kernel ISA this CPU runs: 0 LSB difference.
//! Needs only this crate, so it also runs under qemu on aarch64. (The trainer's tests check
//! that the bundled `.eqm` files are exactly what `edgeq import` makes today.)

use std::path::{Path, PathBuf};

use edgeq_runtime::kernels::Isa;
use edgeq_runtime::{DType, Interpreter, Model, ModelBytes};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/mlperf-tiny")
}

/// Raw little-endian element bytes of an int8 or float32 .npy file.
fn npy_bytes(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = npyz::NpyFile::new(&bytes[..]).expect("npy header");
    match file.dtype().descr().as_str() {
        "'|i1'" => file
            .into_vec::<i8>()
            .unwrap()
            .iter()
            .map(|&v| v as u8)
            .collect(),
        "'<f4'" => file
            .into_vec::<f32>()
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        other => panic!("{}: unexpected dtype {other}", path.display()),
    }
}

#[test]
fn golden_pairs_are_bit_exact_on_every_isa() {
    let isas: Vec<Isa> = Isa::ALL
        .iter()
        .copied()
        .filter(|i| i.is_available())
        .collect();
    if let Ok(required) = std::env::var("EDGEQ_REQUIRE_ISA") {
        for name in required.split(',').filter(|n| !n.is_empty()) {
            let isa = Isa::from_name(name).expect("known ISA name");
            assert!(isas.contains(&isa), "required ISA {name} is not available");
        }
    }
    let mut checked = 0;
    for golden in ["ic", "kws", "vww", "ad", "ad_float_io"] {
        let path = data_dir().join(format!("eqm/{golden}.eqm"));
        let bytes = ModelBytes::copy_from(&std::fs::read(&path).unwrap());
        let model = Model::from_bytes(bytes.bytes()).unwrap();
        let dir = data_dir().join("golden").join(golden);
        let mut cases = 0;
        for i in 0.. {
            let input = dir.join(format!("input_{i}.npy"));
            if !input.exists() {
                break;
            }
            let x = npy_bytes(&input);
            let expected = npy_bytes(&dir.join(format!("output_{i}.npy")));
            for &isa in &isas {
                let mut arena = vec![0u8; model.arena_size()];
                let mut interp = Interpreter::with_isa(&model, &mut arena, isa).unwrap();
                interp.input_bytes_mut(0).unwrap().copy_from_slice(&x);
                interp.invoke().unwrap();
                let out = interp.output_bytes(0).unwrap();
                assert_eq!(
                    out,
                    &expected[..],
                    "{golden} case {i} on {} (output dtype {:?})",
                    isa.name(),
                    model.output(0).unwrap().dtype == DType::F32
                );
                checked += 1;
            }
            cases += 1;
        }
        assert!(cases >= 3, "{golden}: only {cases} golden cases found");
    }
    eprintln!(
        "{checked} golden outputs exact on {:?}",
        isas.iter().map(|i| i.name()).collect::<Vec<_>>()
    );
}
