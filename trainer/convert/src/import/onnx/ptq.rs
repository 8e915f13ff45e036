//! Post-training quantization of float ONNX models: batch norm folded into the convolution
//! before it, activation ranges measured by running the float model (tract) on calibration
//! images, weights quantized per output channel. The result is the same annotated graph a
//! QDQ model gives, lowered by the same code.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use edgeq_runtime::format::DType;
use serde::Serialize;
use tract_onnx::prelude::*;

use super::{
    consumers, keeps_quantization, load, ActQuant, Annotated, Endpoint, Graph, Node, QConst,
};
use crate::data::Dataset;

/// How activation ranges are chosen from the calibration statistics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Method {
    /// The observed minimum and maximum.
    MinMax,
    /// The given lower and upper percentiles of the observed values (e.g. 99.99: the
    /// 0.01st and 99.99th).
    Percentile(f64),
    /// The clipping range that minimizes the mean squared quantization error over the
    /// observed values; weights also get their per-channel MSE-optimal clipping.
    Mse,
}

impl std::str::FromStr for Method {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "minmax" => Ok(Method::MinMax),
            "mse" => Ok(Method::Mse),
            "percentile" => Ok(Method::Percentile(99.99)),
            other => match other.strip_prefix("percentile=") {
                Some(p) => {
                    let p: f64 = p.parse().context("percentile=P needs a number")?;
                    ensure!(
                        (50.0..=100.0).contains(&p),
                        "percentile {p} outside 50..=100"
                    );
                    Ok(Method::Percentile(p))
                }
                None => bail!("calibration method '{other}': minmax, percentile[=P] or mse"),
            },
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::MinMax => write!(f, "minmax"),
            Method::Percentile(p) => write!(f, "percentile={p}"),
            Method::Mse => write!(f, "mse"),
        }
    }
}

/// What to quantize to, and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Weight bits of the inner layers (8 or 4).
    pub weight_bits: u8,
    /// Activation bits of the inner tensors (8 or 4).
    pub act_bits: u8,
    /// Also quantize the first and last layers' weights to `weight_bits` (by default they
    /// stay 8-bit, as in the trainer).
    pub all_layers: bool,
    /// Range method.
    pub method: Method,
    /// Calibration images (from the start of the calibration set).
    pub images: usize,
}

/// One calibrated activation.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Tensor name.
    pub tensor: String,
    /// Observed minimum and maximum.
    pub observed: (f32, f32),
    /// Chosen range.
    pub range: (f32, f32),
    /// Bits.
    pub bits: u8,
    /// Scale and zero point.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
}

/// What calibration did.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Range method.
    pub method: String,
    /// Images run through the float model.
    pub images: usize,
    /// Batch norms folded into convolutions.
    pub folded_batch_norms: usize,
    /// Calibrated activations.
    pub points: Vec<Point>,
    /// Weight bits of each layer, in order: `(node, bits)`.
    pub layers: Vec<(String, u8)>,
}

/// Values kept per calibrated tensor (a strided subsample beyond this).
const SAMPLE_CAP: usize = 1 << 18;

#[derive(Clone, Debug)]
struct Stats {
    min: f32,
    max: f32,
    sample: Vec<f32>,
    seen: usize,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            sample: vec![],
            seen: 0,
        }
    }

    fn add(&mut self, values: &[f32], stride: usize) {
        for (i, &v) in values.iter().enumerate() {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            if (self.seen + i).is_multiple_of(stride) && self.sample.len() < SAMPLE_CAP {
                self.sample.push(v);
            }
        }
        self.seen += values.len();
    }
}

/// How a dataset's `[C, H, W]` images become the model's input.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Arrange {
    /// `[N, C, H, W]` or `[N, C·H·W]`: the images' own order.
    AsIs,
    /// `[N, H, W, C]`.
    ChannelsLast,
}

/// The float model run by tract for a fixed batch, with chosen tensors as outputs.
pub struct FloatRunner {
    plan: Arc<TypedRunnableModel>,
    batch: usize,
    dims: Vec<usize>,
    arrange: Arrange,
}

impl FloatRunner {
    /// Runs `g` (input 0 float) with `outputs` as outputs, for images of `shape`.
    pub fn new(g: &Graph, outputs: &[String], shape: [usize; 3]) -> Result<FloatRunner> {
        ensure!(g.inputs.len() == 1, "PTQ needs a model with one input");
        let input = &g.inputs[0];
        ensure!(
            input.dtype == f32::datum_type(),
            "model input '{}' is {:?}; PTQ needs a float model",
            input.name,
            input.dtype
        );
        let one = g.shape(&input.name)?.to_vec();
        let [c, h, w] = shape;
        let arrange = match one.as_slice() {
            [1, a, b, d] if [*a, *b, *d] == [c, h, w] => Arrange::AsIs,
            [1, a, b, d] if [*a, *b, *d] == [h, w, c] => Arrange::ChannelsLast,
            [1, n] if *n == c * h * w => Arrange::AsIs,
            other => {
                bail!("the model takes {other:?}; the data's images are [C, H, W] = {shape:?}")
            }
        };
        let batch = 32;
        let mut dims = one.clone();
        dims[0] = batch;
        let plan = super::graph::tract("tract: preparing the float model", || {
            let mut model = tract_onnx::onnx().model_for_proto_model(&g.proto)?;
            model.set_input_fact(0, f32::fact(&dims).into())?;
            let outlets = outputs
                .iter()
                .map(|name| {
                    model
                        .find_outlet_label(name)
                        .or_else(|| {
                            model
                                .node_by_name(name)
                                .ok()
                                .map(|n| OutletId::new(n.id, 0))
                        })
                        .with_context(|| format!("tract has no tensor '{name}'"))
                })
                .collect::<TractResult<Vec<_>>>()?;
            model.select_output_outlets(&outlets)?;
            model.into_optimized()?.into_runnable()
        })?;
        Ok(FloatRunner {
            plan,
            batch,
            dims,
            arrange,
        })
    }

    /// The first `n` images of `data` in the model's input order.
    fn input(&self, data: &Dataset, start: usize, n: usize) -> Vec<f32> {
        let [c, h, w] = data.shape;
        let mut out = vec![0.0; self.batch * c * h * w];
        for i in 0..n {
            let image = data.image(start + i);
            let dst = &mut out[i * c * h * w..(i + 1) * c * h * w];
            match self.arrange {
                Arrange::AsIs => dst.copy_from_slice(image),
                Arrange::ChannelsLast => {
                    for ch in 0..c {
                        for p in 0..h * w {
                            dst[p * c + ch] = image[ch * h * w + p];
                        }
                    }
                }
            }
        }
        out
    }

    /// Runs the first `n` images of `data`, calling `visit` per batch with its number of
    /// images, the model input and each output, cut to those images.
    pub fn run(
        &self,
        data: &Dataset,
        n: usize,
        mut visit: impl FnMut(usize, &[f32], &[Vec<f32>]) -> Result<()>,
    ) -> Result<()> {
        let per = data.image_len();
        for start in (0..n.min(data.len())).step_by(self.batch) {
            let m = self.batch.min(n.min(data.len()) - start);
            let input = self.input(data, start, m);
            let tensor = tract_ndarray::ArrayD::from_shape_vec(self.dims.clone(), input.clone())?
                .into_tensor();
            let outputs = self.plan.run(tvec!(tensor.into_tvalue()))?;
            let cut: Vec<Vec<f32>> = outputs
                .iter()
                .map(|o| {
                    let view = o.to_plain_array_view::<f32>()?;
                    let all: Vec<f32> = view.iter().copied().collect();
                    let row = all.len() / self.batch;
                    Ok(all[..m * row].to_vec())
                })
                .collect::<Result<_>>()?;
            visit(m, &input[..m * per], &cut)?;
        }
        Ok(())
    }

    /// Float top-1 accuracy of output 0 on `data`.
    pub fn accuracy(&self, data: &Dataset) -> Result<f32> {
        let mut correct = 0;
        let mut seen = 0;
        self.run(data, data.len(), |rows, _, outs| {
            let classes = outs[0].len() / rows;
            for r in 0..rows {
                let logits = &outs[0][r * classes..(r + 1) * classes];
                correct +=
                    usize::from(crate::evaluate::argmax(logits) == usize::from(data.labels[seen]));
                seen += 1;
            }
            Ok(())
        })?;
        Ok(correct as f32 / seen.max(1) as f32)
    }
}

/// Asymmetric quantization of `[lo, hi]` (widened to hold 0) on `bits`.
fn act_quant(lo: f32, hi: f32, bits: u8) -> ActQuant {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let levels = if bits == 4 { 15.0 } else { 255.0 };
    let scale = ((hi - lo) / levels).max(1e-8);
    let (dtype, qmin) = if bits == 4 {
        (DType::U4, 0.0)
    } else {
        (DType::I8, -128.0)
    };
    ActQuant {
        dtype,
        scale,
        zero_point: (qmin - lo / scale).round().clamp(qmin, qmin + levels) as i32,
    }
}

/// Mean squared error of quantizing `values` with `q`.
fn quant_error(values: &[f32], q: ActQuant) -> f64 {
    let (lo, hi) = q.dtype.int_range();
    values
        .iter()
        .map(|&v| {
            let i = ((v / q.scale).round() as i32 + q.zero_point).clamp(lo, hi);
            let back = (i - q.zero_point) as f32 * q.scale;
            f64::from(v - back).powi(2)
        })
        .sum::<f64>()
        / values.len().max(1) as f64
}

/// The range `method` picks from `stats`.
fn choose_range(stats: &Stats, method: Method, bits: u8) -> (f32, f32) {
    let (lo, hi) = (stats.min.min(0.0), stats.max.max(0.0));
    match method {
        Method::MinMax => (lo, hi),
        Method::Percentile(p) => {
            let mut s = stats.sample.clone();
            if s.is_empty() {
                return (lo, hi);
            }
            s.sort_by(f32::total_cmp);
            let at = |q: f64| s[((q / 100.0) * (s.len() - 1) as f64).round() as usize];
            (at(100.0 - p).min(0.0), at(p).max(0.0))
        }
        Method::Mse => {
            // Shrink both ends together; 100 candidates from the full range down to 1%.
            (1..=100)
                .map(|k| {
                    let f = k as f32 / 100.0;
                    let range = (lo * f, hi * f);
                    let error = quant_error(&stats.sample, act_quant(range.0, range.1, bits));
                    (error, range)
                })
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, range)| range)
                .unwrap_or((lo, hi))
        }
    }
}

/// Symmetric per-channel weight quantization: `channels` rows of `per` values each when
/// `channel_of(i)` gives value `i`'s channel.
fn quantize_weights(
    w: &[f32],
    channels: usize,
    channel_of: impl Fn(usize) -> usize,
    bits: u8,
    mse: bool,
) -> (Vec<i32>, Vec<f32>) {
    let qmax = if bits == 4 { 7.0 } else { 127.0 };
    let mut rows: Vec<Vec<f32>> = vec![vec![]; channels];
    for (i, &v) in w.iter().enumerate() {
        rows[channel_of(i)].push(v);
    }
    let error = |row: &[f32], s: f32| -> f32 {
        row.iter()
            .map(|&v| (v - (v / s).round().clamp(-qmax, qmax) * s).powi(2))
            .sum()
    };
    let scales: Vec<f32> = rows
        .iter()
        .map(|row| {
            let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
            if !mse {
                return max / qmax;
            }
            (20..=100)
                .map(|k| {
                    let s = max * k as f32 / 100.0 / qmax;
                    (error(row, s), s)
                })
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map_or(max / qmax, |(_, s)| s)
        })
        .collect();
    let values = w
        .iter()
        .enumerate()
        .map(|(i, &v)| (v / scales[channel_of(i)]).round().clamp(-qmax, qmax) as i32)
        .collect();
    (values, scales)
}

fn tensor(dims: &[usize], values: Vec<f32>) -> Result<Arc<Tensor>> {
    Ok(Arc::new(
        tract_ndarray::ArrayD::from_shape_vec(dims.to_vec(), values)?.into_tensor(),
    ))
}

/// Folds every BatchNormalization that directly follows a Conv (its only reader) into the
/// Conv's weights and bias. Returns the count.
fn fold_batch_norms(g: &mut Graph, nodes: &mut Vec<Node>) -> Result<usize> {
    let mut folded = 0;
    loop {
        let readers = consumers(nodes);
        let found = nodes.iter().enumerate().find_map(|(j, bn)| {
            if bn.op != "BatchNormalization" {
                return None;
            }
            let x = bn.input(0)?;
            let i = nodes
                .iter()
                .position(|n| n.op == "Conv" && n.output() == x)?;
            (readers.get(x).map(Vec::len) == Some(1)).then_some((i, j))
        });
        let Some((i, j)) = found else {
            return Ok(folded);
        };
        let (conv, bn) = (nodes[i].clone(), nodes[j].clone());
        let get = |k: usize| -> Result<Vec<f32>> {
            g.const_f32(bn.input(k).context("BatchNormalization input missing")?)
        };
        let (gamma, beta, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
        let eps = bn.float("epsilon").unwrap_or(1e-5);
        let wname = conv.input(1).context("Conv without weights")?;
        let dims = g.shape(wname)?.to_vec();
        let mut w = g.const_f32(wname)?;
        let o = dims[0];
        ensure!(
            gamma.len() == o,
            "batch norm over {} channels, conv has {o}",
            gamma.len()
        );
        let mut b = match conv.input(2) {
            Some(name) => g.const_f32(name)?,
            None => vec![0.0; o],
        };
        ensure!(
            b.len() == o,
            "Conv bias has {} values for {o} channels",
            b.len()
        );
        let per = w.len() / o;
        for c in 0..o {
            let k = gamma[c] / (var[c] + eps).sqrt();
            w[c * per..(c + 1) * per].iter_mut().for_each(|v| *v *= k);
            b[c] = (b[c] - mean[c]) * k + beta[c];
        }
        let (wkey, bkey) = (
            format!("{}#folded_weights", conv.name),
            format!("{}#folded_bias", conv.name),
        );
        g.consts.insert(wkey.clone(), tensor(&dims, w)?);
        g.shapes.insert(wkey.clone(), dims);
        g.consts.insert(bkey.clone(), tensor(&[o], b)?);
        g.shapes.insert(bkey.clone(), vec![o]);
        let x = conv.input(0).context("Conv without input")?.to_string();
        nodes[i] = conv.renamed("Conv", vec![x, wkey, bkey], bn.outputs.clone());
        nodes.remove(j);
        folded += 1;
    }
}

/// A layer PTQ quantizes: a Conv, MatMul or Gemm and what fuses into it.
struct Layer {
    node: usize,
    chain: super::Chain,
}

/// Quantizes the float model at `path` with `calibration` images.
pub fn quantize(
    path: &Path,
    calibration: &Dataset,
    opts: &Options,
) -> Result<(Graph, Annotated, Report)> {
    ensure!(
        matches!(opts.weight_bits, 4 | 8) && matches!(opts.act_bits, 4 | 8),
        "bits must be 4 or 8"
    );
    ensure!(!calibration.is_empty(), "no calibration images");
    let mut g = load(path)?;
    if let Some(n) = g.nodes.iter().find(|n| {
        matches!(
            n.op.as_str(),
            "QuantizeLinear" | "DequantizeLinear" | "QLinearConv" | "QLinearMatMul"
        )
    }) {
        bail!(
            "the model is already quantized ({}); import it without --calibrate",
            n.describe()
        );
    }
    let mut nodes = g.nodes.clone();
    let folded = fold_batch_norms(&mut g, &mut nodes)?;
    ensure!(g.outputs.len() == 1, "PTQ needs a model with one output");
    let input = g
        .inputs
        .first()
        .context("the model has no input")?
        .name
        .clone();
    let mut a = Annotated {
        nodes,
        inputs: vec![Endpoint {
            name: input.clone(),
            label: input.clone(),
            float: false,
        }],
        outputs: vec![Endpoint {
            name: g.outputs[0].name.clone(),
            label: g.outputs[0].name.clone(),
            float: false,
        }],
        ..Annotated::default()
    };

    // The tensors to calibrate: the input and each layer's (fused) output.
    let readers = consumers(&a.nodes);
    let mut layers = vec![];
    let mut absorbed = HashSet::new();
    let mut points = vec![input.clone()];
    for (i, n) in a.nodes.iter().enumerate() {
        if absorbed.contains(&i) {
            continue;
        }
        let is_layer = matches!(n.op.as_str(), "Conv" | "MatMul" | "Gemm");
        let is_sum = n.op == "Add" && n.inputs.iter().all(|x| !g.consts.contains_key(x));
        if !(is_layer || is_sum) {
            continue;
        }
        let bias_ok = n.op == "MatMul" || (n.op == "Gemm" && n.input(2).is_none());
        let chain = a.chain(&g, &readers, n.output(), bias_ok)?;
        absorbed.extend(chain.absorbed.iter().copied());
        points.push(chain.output.clone());
        if is_layer {
            layers.push(Layer { node: i, chain });
        }
    }
    ensure!(
        !layers.is_empty(),
        "the model has no Conv, MatMul or Gemm to quantize"
    );

    // Run the float model on the calibration images.
    let n = opts.images.min(calibration.len());
    let outputs: Vec<String> = points[1..].to_vec();
    let runner = FloatRunner::new(&g, &outputs, calibration.shape)?;
    let mut stats = vec![Stats::new(); points.len()];
    let mut strides = vec![0usize; points.len()];
    runner.run(calibration, n, |rows, input, outs| {
        for (k, values) in std::iter::once(input)
            .chain(outs.iter().map(Vec::as_slice))
            .enumerate()
        {
            if strides[k] == 0 {
                // Values per image times images, subsampled to the cap.
                let total = values.len() / rows * n;
                strides[k] = total.div_ceil(SAMPLE_CAP).max(1);
            }
            stats[k].add(values, strides[k]);
        }
        Ok(())
    })?;

    // Activation quantization: 8-bit at the model's edges, into a Softmax and (unless
    // --all-layers) into the last layer, as the trainer's bit plan; traced back through
    // operators that keep quantization.
    let mut eight_bit: HashSet<String> = a
        .nodes
        .iter()
        .filter(|n| n.op == "Softmax")
        .filter_map(|n| n.input(0).map(str::to_owned))
        .chain([input.clone(), g.outputs[0].name.clone()])
        .collect();
    if !opts.all_layers {
        let last = &a.nodes[layers[layers.len() - 1].node];
        eight_bit.extend(last.input(0).map(str::to_owned));
    }
    for n in a.nodes.iter().rev() {
        let keeps = keeps_quantization(&n.op)
            || matches!(n.op.as_str(), "AveragePool" | "GlobalAveragePool");
        if keeps && eight_bit.contains(n.output()) {
            eight_bit.extend(n.input(0).map(str::to_owned));
        }
    }
    let mut report_points = vec![];
    for (k, name) in points.iter().enumerate() {
        let bits = if eight_bit.contains(name.as_str()) {
            8
        } else {
            opts.act_bits
        };
        // The input keeps its full observed range (pixels are exact at 8 bits).
        let method = if k == 0 { Method::MinMax } else { opts.method };
        let range = choose_range(&stats[k], method, bits);
        let q = act_quant(range.0, range.1, bits);
        a.acts.insert(name.clone(), q);
        report_points.push(Point {
            tensor: name.clone(),
            observed: (stats[k].min, stats[k].max),
            range,
            bits,
            scale: q.scale,
            zero_point: q.zero_point,
        });
    }
    for n in a.nodes.iter().filter(|n| n.op == "Softmax") {
        a.acts.insert(
            n.output().to_string(),
            ActQuant {
                dtype: DType::I8,
                scale: 1.0 / 256.0,
                zero_point: -128,
            },
        );
    }
    a.propagate();

    // Weights per output channel, biases on the input scale × weight scale grid.
    let mut report_layers = vec![];
    let last = layers.len() - 1;
    for (index, layer) in layers.iter().enumerate() {
        let node = a.nodes[layer.node].clone();
        let edge = index == 0 || index == last;
        let bits = if edge && !opts.all_layers {
            8
        } else {
            opts.weight_bits
        };
        let wname = node.input(1).context("layer without weights")?.to_string();
        let dims = g.shape(&wname)?.to_vec();
        ensure!(
            dims.len() >= 2 && dims.iter().all(|&d| d > 0),
            "weights '{wname}' have dims {dims:?}"
        );
        let w = g.const_f32(&wname)?;
        let x = node.input(0).context("layer without input")?;
        let sx = a
            .acts
            .get(x)
            .with_context(|| format!("input '{x}' of {} was not calibrated", node.describe()))?
            .scale;
        let (channels, axis) = match node.op.as_str() {
            "Conv" => (dims[0], 0),
            "Gemm" if node.int("transB").unwrap_or(0) == 1 => (dims[0], 0),
            _ => (dims[1], 1),
        };
        let per = w.len() / channels;
        let channel_of = |i: usize| if axis == 0 { i / per } else { i % channels };
        let (values, scales) =
            quantize_weights(&w, channels, channel_of, bits, opts.method == Method::Mse);
        let bias_name = match node.op.as_str() {
            "MatMul" => layer.chain.bias.clone(),
            _ => node.input(2).map(str::to_owned),
        };
        if let Some(bname) = bias_name {
            let b = g.const_f32(&bname)?;
            ensure!(
                b.len() == channels,
                "bias '{bname}' has {} values for {channels} channels",
                b.len()
            );
            let bscales: Vec<f32> = scales.iter().map(|s| s * sx).collect();
            let values = b
                .iter()
                .zip(&bscales)
                .map(|(v, s)| (v / s).round().clamp(-2e9, 2e9) as i32)
                .collect();
            let q = QConst {
                dims: vec![channels],
                values,
                zero_points: vec![0; channels],
                scales: bscales,
                axis: 0,
                bits: 32,
            };
            ensure!(
                a.qconsts.insert(bname.clone(), q).is_none(),
                "bias '{bname}' is shared by two layers"
            );
        }
        let q = QConst {
            dims,
            values,
            zero_points: vec![0; scales.len()],
            scales,
            axis,
            bits,
        };
        ensure!(
            a.qconsts.insert(wname.clone(), q).is_none(),
            "weights '{wname}' are shared by two layers"
        );
        report_layers.push((node.name.clone(), bits));
    }
    let report = Report {
        method: opts.method.to_string(),
        images: n,
        folded_batch_norms: folded,
        points: report_points,
        layers: report_layers,
    };
    Ok((g, a, report))
}

/// Accuracy of a PTQ import against its float model.
#[derive(Clone, Debug, Serialize)]
pub struct AccuracyDrop {
    /// Held-out images.
    pub images: usize,
    /// Float model (tract).
    pub float: f32,
    /// Quantized model (the edgeq runtime).
    pub quantized: f32,
}

/// Scores the float model (tract) and the imported `.eqm` (runtime) on `test`.
pub fn accuracy_drop(g: &Graph, eqm: &[u8], test: &Dataset) -> Result<AccuracyDrop> {
    let output = g.outputs[0].name.clone();
    let runner = FloatRunner::new(g, &[output], test.shape)?;
    let float = runner.accuracy(test)?;
    let quantized = crate::evaluate::score(eqm, test)?.accuracy;
    Ok(AccuracyDrop {
        images: test.len(),
        float,
        quantized,
    })
}

/// A PTQ'd model: `.eqm` bytes, what calibration did, and the accuracy before and after on
/// `test` when given.
pub struct Imported {
    /// The model.
    pub eqm: Vec<u8>,
    /// Calibration report.
    pub report: Report,
    /// Float vs quantized accuracy.
    pub accuracy: Option<AccuracyDrop>,
}

/// Quantizes the float ONNX model at `path` on `calibration` images, lowers it (weights
/// packed unless `plain_weights`) and scores it on `test`.
pub fn import(
    path: &Path,
    calibration: &Dataset,
    test: Option<&Dataset>,
    opts: &Options,
    plain_weights: bool,
) -> Result<Imported> {
    let (g, annotated, report) = quantize(path, calibration, opts)?;
    let mut builder = super::lower_annotated(&g, &annotated)?;
    if !plain_weights {
        crate::pack::pack_gemm_weights(&mut builder)?;
    }
    let eqm = builder.finish()?;
    let accuracy = match test {
        Some(t) if !t.is_empty() => Some(accuracy_drop(&g, &eqm, t)?),
        _ => None,
    };
    Ok(Imported {
        eqm,
        report,
        accuracy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_and_print() {
        for s in ["minmax", "mse", "percentile=99.9"] {
            assert_eq!(s.parse::<Method>().unwrap().to_string(), s);
        }
        assert_eq!(
            "percentile".parse::<Method>().unwrap(),
            Method::Percentile(99.99)
        );
        assert!("percentile=20".parse::<Method>().is_err());
        assert!("kl".parse::<Method>().is_err());
    }

    #[test]
    fn activation_ranges_hold_zero_and_map_ends_to_the_grid() {
        let q = act_quant(0.0, 1.0, 8);
        assert_eq!((q.dtype, q.zero_point), (DType::I8, -128));
        assert!((q.scale - 1.0 / 255.0).abs() < 1e-9);
        // A positive-only range is widened to 0; 4-bit is unsigned with a zero point.
        let q = act_quant(2.0, 3.0, 4);
        assert_eq!((q.dtype, q.zero_point), (DType::U4, 0));
        assert!((q.scale - 0.2).abs() < 1e-6);
        let q = act_quant(-1.0, 2.0, 4);
        assert_eq!(q.zero_point, 5);
    }

    #[test]
    fn percentile_and_mse_clip_an_outlier() {
        let mut stats = Stats::new();
        let mut values: Vec<f32> = (0..10_000).map(|i| (i % 100) as f32 / 100.0).collect();
        values.push(50.0);
        stats.add(&values, 1);
        assert_eq!(choose_range(&stats, Method::MinMax, 8), (0.0, 50.0));
        let (_, hi) = choose_range(&stats, Method::Percentile(99.9), 8);
        assert!((0.98..=1.0).contains(&hi), "{hi}");
        // MSE clips the outlier (at 4 bits a step of 50/15 would erase the bulk) and its
        // error is no worse than either other choice.
        let error = |m| {
            let (lo, hi) = choose_range(&stats, m, 4);
            quant_error(&stats.sample, act_quant(lo, hi, 4))
        };
        let (_, hi) = choose_range(&stats, Method::Mse, 4);
        assert!(hi < 25.0, "{hi}");
        assert!(error(Method::Mse) <= error(Method::MinMax));
        assert!(error(Method::Mse) <= error(Method::Percentile(99.9)));
    }

    #[test]
    fn weights_are_symmetric_per_channel() {
        // Two channels along axis 0, three values each.
        let w = [0.5, -1.0, 0.25, 2.0, 1.0, -2.0];
        let (q, s) = quantize_weights(&w, 2, |i| i / 3, 8, false);
        assert_eq!(q, [64, -127, 32, 127, 64, -127]);
        assert!((s[0] - 1.0 / 127.0).abs() < 1e-7 && (s[1] - 2.0 / 127.0).abs() < 1e-7);
        let (q4, _) = quantize_weights(&w, 2, |i| i / 3, 4, false);
        assert!(q4.iter().all(|v| (-7..=7).contains(v)));
    }
}
