//! A Linux application linking edgeq-runtime as a library: load a model, read one input,
//! run it, print the scores and the top class.
//!
//! ```text
//! edgeq-classify MODEL.eqm INPUT.npy [--labels a,b,c] [--repeat N]
//! ```
//!
//! The whole integration is `load_model_file` → `Model::from_bytes` → an arena of
//! `arena_size()` bytes → `Interpreter::new` → write the input → `invoke` → read the output.

use std::process::ExitCode;
use std::time::Instant;

use edgeq_runtime::{load_model_file, DType, Interpreter, Model};

const USAGE: &str = "usage: edgeq-classify MODEL.eqm INPUT.npy [--labels a,b,c] [--repeat N]
  INPUT.npy holds the input tensor's values (int8, uint8 or float32, matching the model);
  --repeat runs the model N times and prints the median latency.";

struct Args {
    model: String,
    input: String,
    labels: Vec<String>,
    repeat: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut labels = Vec::new();
    let mut repeat = 1;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => return Err(USAGE.to_string()),
            "--labels" => {
                let list = args.next().ok_or("--labels needs a value")?;
                labels = list.split(',').map(str::to_string).collect();
            }
            "--repeat" => {
                let n = args.next().ok_or("--repeat needs a value")?;
                repeat = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("--repeat: not a positive count: {n}"))?;
            }
            _ => positional.push(a),
        }
    }
    let [model, input]: [String; 2] = positional
        .try_into()
        .map_err(|_| format!("expected MODEL and INPUT\n{USAGE}"))?;
    Ok(Args {
        model,
        input,
        labels,
        repeat,
    })
}

/// The data bytes of a .npy file (any version; the header is not interpreted beyond its length).
fn npy_payload(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let header = match bytes[6] {
        1 => 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]])),
        _ if bytes.len() >= 12 => {
            12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
        }
        _ => return Err("truncated .npy header".into()),
    };
    bytes
        .get(header..)
        .ok_or_else(|| "truncated .npy file".into())
}

fn run(args: &Args) -> Result<(), String> {
    let file = load_model_file(&args.model).map_err(|e| format!("{}: {e}", args.model))?;
    let model = Model::from_bytes(file.bytes()).map_err(|e| format!("{}: {e}", args.model))?;
    let mut arena = vec![0u8; model.arena_size()];
    let mut interp = Interpreter::new(&model, &mut arena).map_err(|e| e.to_string())?;
    println!(
        "{}: {} ops, arena {} bytes, kernels {}",
        args.model,
        model.op_count(),
        model.arena_size(),
        interp.isa().name()
    );

    let input_file = std::fs::read(&args.input).map_err(|e| format!("{}: {e}", args.input))?;
    let data = npy_payload(&input_file).map_err(|e| format!("{}: {e}", args.input))?;
    let input_len = interp.input_bytes_mut(0).map_err(|e| e.to_string())?.len();
    if data.len() != input_len {
        return Err(format!(
            "{}: {} data bytes, the model's input takes {input_len}",
            args.input,
            data.len(),
        ));
    }

    let mut times = Vec::with_capacity(args.repeat);
    for _ in 0..args.repeat {
        // Written before every run: the arena reuses the input's bytes during `invoke`.
        interp
            .input_bytes_mut(0)
            .map_err(|e| e.to_string())?
            .copy_from_slice(data);
        let start = Instant::now();
        interp.invoke().map_err(|e| e.to_string())?;
        times.push(start.elapsed());
    }
    times.sort();

    let info = model.output(0).map_err(|e| e.to_string())?;
    let raw = interp.output_bytes(0).map_err(|e| e.to_string())?;
    let scores: Vec<f32> = match info.dtype {
        DType::I8 => raw
            .iter()
            .map(|&q| info.scale * (i32::from(q as i8) - info.zero_point) as f32)
            .collect(),
        DType::U8 => raw
            .iter()
            .map(|&q| info.scale * (i32::from(q) - info.zero_point) as f32)
            .collect(),
        DType::F32 => raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        DType::I4 | DType::U4 => {
            use edgeq_runtime::kernels::int4::{Elems, Values};
            let v = Values::of(info.dtype, raw).ok_or("not a 4-bit tensor")?;
            (0..info.len())
                .map(|i| info.scale * (v.at(i) - info.zero_point) as f32)
                .collect()
        }
        DType::I16 => raw
            .chunks_exact(2)
            .map(|c| {
                info.scale * (i32::from(i16::from_le_bytes([c[0], c[1]])) - info.zero_point) as f32
            })
            .collect(),
        DType::I32 => return Err("int32 outputs are not printed by this example".into()),
    };
    let best = (0..scores.len())
        .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
        .ok_or("empty output")?;
    for (k, s) in scores.iter().enumerate().take(16) {
        println!("  [{k:2}] {s:.4}");
    }
    let name = args.labels.get(best).cloned().unwrap_or(best.to_string());
    println!(
        "top class: {name} (index {best}, score {:.4})",
        scores[best]
    );
    if args.repeat > 1 {
        println!(
            "latency: median {:.1} µs over {} runs",
            times[times.len() / 2].as_secs_f64() * 1e6,
            args.repeat
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
