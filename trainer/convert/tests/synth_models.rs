//! Synthetic W8A8 / W4A4 / mixed models of the four MLPerf Tiny architectures: the packed
//! model gives, on every kernel ISA this CPU runs, exactly the outputs of the plain-layout
//! model on the scalar oracle, for every intermediate tensor; the 4-bit models use half the
//! weight bytes.

use edgeq_convert::synth::{self, Arch, Bits};
use edgeq_runtime::kernels::Isa;
use edgeq_runtime::{Interpreter, Model, ModelBytes};

/// Every output (here: every intermediate) of `bytes` on `isa`, for a few random inputs.
fn outputs(bytes: &[u8], isa: Isa, seeds: std::ops::Range<u64>) -> Vec<Vec<Vec<u8>>> {
    let aligned = ModelBytes::copy_from(bytes);
    let model = Model::from_bytes(aligned.bytes()).expect("synthetic model loads");
    let mut arena = vec![0u8; model.arena_size()];
    let mut interp = Interpreter::with_isa(&model, &mut arena, isa).unwrap();
    seeds
        .map(|seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            rng.fill(interp.input_bytes_mut(0).unwrap());
            interp.invoke().unwrap();
            (0..model.output_count())
                .map(|o| interp.output_bytes(o).unwrap().to_vec())
                .collect()
        })
        .collect()
}

fn weight_bytes(bytes: &[u8]) -> usize {
    let aligned = ModelBytes::copy_from(bytes);
    let model = Model::from_bytes(aligned.bytes()).unwrap();
    (0..model.tensor_count())
        .filter_map(|i| model.tensor_desc(i))
        .filter(|t| t.storage == edgeq_runtime::format::Storage::Const as u8 && t.dtype != 3)
        .map(|t| t.size as usize)
        .sum()
}

#[test]
fn packed_models_match_the_oracle_on_every_isa() {
    let isas: Vec<Isa> = Isa::ALL
        .iter()
        .copied()
        .filter(|i| i.is_available())
        .collect();
    for arch in Arch::ALL {
        for bits in ["w8a8", "w4a4", "w4a8", "w8a4"] {
            let bits = Bits::parse(bits).unwrap();
            let mut graph = synth::graph(arch, bits, 3).unwrap();
            graph.expose_activations();
            let plain = graph.finish().unwrap();
            edgeq_convert::pack::pack_gemm_weights(&mut graph).unwrap();
            let packed = graph.finish().unwrap();
            let want = outputs(&plain, Isa::SCALAR, 0..3);
            // Not degenerate: the intermediates depend on the input (the final scores of a
            // random network may saturate).
            let layers = want[0].len();
            let varying = (0..layers)
                .filter(|&l| want.windows(2).any(|w| w[0][l] != w[1][l]))
                .count();
            assert!(
                varying * 10 >= layers * 8,
                "{arch:?} {bits}: {varying} of {layers} vary"
            );
            for &isa in &isas {
                assert_eq!(outputs(&packed, isa, 0..3), want, "{arch:?} {bits} {isa:?}");
            }
        }
    }
}

#[test]
fn four_bit_weights_take_about_half_the_bytes() {
    for arch in Arch::ALL {
        let w8 = weight_bytes(&synth::model(arch, Bits::parse("w8a8").unwrap(), 1).unwrap());
        let w4 = weight_bytes(&synth::model(arch, Bits::parse("w4a4").unwrap(), 1).unwrap());
        let ratio = w4 as f64 / w8 as f64;
        // Packing pads to 8 channels x 4 steps in both.
        assert!(
            ratio > 0.45 && ratio <= 0.55,
            "{arch:?}: {w4} / {w8} = {ratio:.3}"
        );
    }
}

/// The runtime's W4A4 robustness fixtures (`runtime/tests/data/*_w4a4.eqm`) are byte for byte
/// what `synth` writes today, so the corruption tests always start from a current model.
#[test]
fn runtime_w4a4_fixtures_are_fresh() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runtime/tests/data");
    for arch in [Arch::DsCnn, Arch::ResNet8] {
        let fresh = synth::model(arch, Bits::parse("w4a4").unwrap(), 7).unwrap();
        let path = dir.join(format!("{}_w4a4.eqm", arch.name()));
        let bundled = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            fresh == bundled,
            "{} is stale: re-run `edgeq-convert synth --arch {} --bits w4a4 --seed 7 -o {}`",
            path.display(),
            arch.name(),
            path.display()
        );
    }
}
