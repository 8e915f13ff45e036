//! An ONNX file as the importer sees it: the nodes in file order with their attributes
//! (from the protobuf), and every tensor's shape, type and constant value (from tract-onnx's
//! type inference, with symbolic batch dimensions set to 1).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, InferenceFact, InferenceModelExt};

/// One ONNX node.
#[derive(Clone, Debug)]
pub struct Node {
    /// Operator type (`Conv`, `QuantizeLinear`, ...).
    pub op: String,
    /// Node name (or its first output when unnamed), for error messages.
    pub name: String,
    /// Input tensor names; an empty name is an omitted optional input.
    pub inputs: Vec<String>,
    /// Output tensor names.
    pub outputs: Vec<String>,
    attributes: Vec<pb::AttributeProto>,
}

impl Node {
    /// The same operator under another type, attributes kept (`QLinearConv` -> `Conv`).
    pub fn renamed(&self, op: &str, inputs: Vec<String>, outputs: Vec<String>) -> Node {
        Node {
            op: op.into(),
            name: self.name.clone(),
            inputs,
            outputs,
            attributes: self.attributes.clone(),
        }
    }

    fn attribute(&self, name: &str) -> Option<&pb::AttributeProto> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// An integer attribute.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.attribute(name).map(|a| a.i)
    }

    /// A float attribute.
    pub fn float(&self, name: &str) -> Option<f32> {
        self.attribute(name).map(|a| a.f)
    }

    /// A list-of-integers attribute.
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.attribute(name).map(|a| a.ints.clone())
    }

    /// A string attribute.
    pub fn string(&self, name: &str) -> Option<String> {
        self.attribute(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    /// Input `i`, if present and not omitted.
    pub fn input(&self, i: usize) -> Option<&str> {
        self.inputs
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Output 0.
    pub fn output(&self) -> &str {
        self.outputs.first().map(String::as_str).unwrap_or("")
    }

    /// `"Conv 'name'"`, for messages.
    pub fn describe(&self) -> String {
        format!("{} '{}'", self.op, self.name)
    }
}

/// A graph input or output.
#[derive(Clone, Debug)]
pub struct Io {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub dtype: DatumType,
}

/// The parsed graph.
pub struct Graph {
    /// Nodes in file order (ONNX requires topological order).
    pub nodes: Vec<Node>,
    /// Constant tensors: initializers and `Constant` outputs.
    pub consts: HashMap<String, Arc<Tensor>>,
    /// Concrete shapes of every tensor tract could infer.
    pub shapes: HashMap<String, Vec<usize>>,
    /// Graph inputs (initializers excluded).
    pub inputs: Vec<Io>,
    /// Graph outputs.
    pub outputs: Vec<Io>,
    /// The protobuf, for running the float model with tract (calibration).
    pub proto: pb::ModelProto,
}

/// tract's datum type of an ONNX element type code.
fn datum_type(code: i32) -> Result<DatumType> {
    Ok(match code {
        1 => f32::datum_type(),
        2 => u8::datum_type(),
        3 => i8::datum_type(),
        6 => i32::datum_type(),
        7 => i64::datum_type(),
        other => bail!("ONNX element type {other} is not supported at a graph input or output"),
    })
}

fn tensor_type(value: &pb::ValueInfoProto) -> Result<&pb::type_proto::Tensor> {
    match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => Ok(t),
        _ => bail!("graph input/output '{}' is not a tensor", value.name),
    }
}

/// The shape of a graph input with symbolic dimensions (the batch) set to 1.
fn input_shape(t: &pb::type_proto::Tensor, name: &str) -> Result<Vec<usize>> {
    let shape = t
        .shape
        .as_ref()
        .with_context(|| format!("graph input '{name}' has no shape"))?;
    shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if *v > 0 => {
                Ok(*v as usize)
            }
            Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => {
                bail!("graph input '{name}' has dimension {v}")
            }
            _ => Ok(1),
        })
        .collect()
}

/// Runs a tract-onnx call, turning its errors and panics (tract asserts on some malformed
/// graphs) into errors that say `what` failed.
pub fn tract<T>(what: &str, f: impl FnOnce() -> TractResult<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(|e| anyhow!("{what}: {e:?}")),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("?");
            bail!("{what}: tract-onnx panicked ({message}); the file is probably malformed")
        }
    }
}

/// Reads and analyses `path`; tensors stored outside the file are read from its folder.
pub fn load(path: &Path) -> Result<Graph> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let dir = path.parent().and_then(|d| d.to_str()).unwrap_or(".");
    parse(&bytes, &path.display().to_string(), Some(dir))
}

/// Analyses an ONNX file held in memory. Its tensors must all be inside it: a reference to
/// external data is an error, as there is no folder to resolve it against.
pub fn load_bytes(bytes: &[u8]) -> Result<Graph> {
    parse(bytes, "the ONNX bytes", None)
}

fn parse(bytes: &[u8], what: &str, dir: Option<&str>) -> Result<Graph> {
    let onnx = tract_onnx::onnx();
    let proto = tract(&format!("parsing {what} as ONNX"), || {
        onnx.proto_model_for_read(&mut &bytes[..])
    })?;
    let pg = proto.graph.as_ref().context("the ONNX file has no graph")?;
    let initializers: std::collections::HashSet<&str> =
        pg.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut inputs = vec![];
    let mut input_facts = vec![];
    for value in pg
        .input
        .iter()
        .filter(|v| !initializers.contains(v.name.as_str()))
    {
        let t = tensor_type(value)?;
        let dtype = datum_type(t.elem_type)?;
        input_facts.push(InferenceFact::dt_shape(dtype, input_shape(t, &value.name)?));
        inputs.push(Io {
            name: value.name.clone(),
            dtype,
        });
    }
    let outputs = pg
        .output
        .iter()
        .map(|v| {
            Ok(Io {
                name: v.name.clone(),
                dtype: datum_type(tensor_type(v)?.elem_type)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    // Shapes in value_info may keep a symbolic batch the inputs no longer have.
    let model = tract("tract-onnx could not analyse the graph", || {
        let mut model = onnx
            .with_ignore_value_info(true)
            .with_ignore_output_shapes(true)
            .model_for_proto_model(&proto)?;
        for (i, fact) in input_facts.into_iter().enumerate() {
            model.set_input_fact(i, fact)?;
        }
        model.analyse(false)?;
        Ok(model)
    })?;

    let mut shapes = HashMap::new();
    // Constants straight from the protobuf (tract folds some into the operators it builds).
    let load = |t: &pb::TensorProto| -> Result<Arc<Tensor>> {
        let external = t.data_location == Some(pb::tensor_proto::DataLocation::External as i32);
        if external && dir.is_none() {
            bail!(
                "constant '{}' is stored outside the ONNX file; import it from its path",
                t.name
            );
        }
        tract_onnx::tensor::load_tensor(&tract_onnx::data_resolver::MmapDataResolver, t, dir)
            .map(Arc::new)
            .map_err(|e| anyhow!("{e:?}"))
            .with_context(|| format!("loading constant '{}'", t.name))
    };
    let mut consts = HashMap::new();
    for t in &pg.initializer {
        consts.insert(t.name.clone(), load(t)?);
    }
    for n in pg.node.iter().filter(|n| n.op_type == "Constant") {
        let value = n
            .attribute
            .iter()
            .find(|a| a.name == "value")
            .and_then(|a| a.t.as_ref())
            .with_context(|| format!("Constant node '{}' without a tensor value", n.name))?;
        for out in &n.output {
            consts.insert(out.clone(), load(value)?);
        }
    }
    for node in model.nodes() {
        for slot in 0..node.outputs.len() {
            let outlet = OutletId::new(node.id, slot);
            let name = model
                .outlet_label(outlet)
                .map(str::to_owned)
                .unwrap_or_else(|| node.name.clone());
            let fact = model.outlet_fact(outlet)?;
            if let Some(dims) = fact.shape.concretize() {
                if let Some(dims) = dims
                    .iter()
                    .map(|d| d.as_i64().and_then(|v| usize::try_from(v).ok()))
                    .collect::<Option<Vec<_>>>()
                {
                    shapes.insert(name.clone(), dims);
                }
            }
        }
    }

    for (name, t) in &consts {
        shapes.insert(name.clone(), t.shape().to_vec());
    }
    let nodes = pg
        .node
        .iter()
        .filter(|n| n.op_type != "Constant")
        .map(|n| Node {
            op: n.op_type.clone(),
            name: if n.name.is_empty() {
                n.output.first().cloned().unwrap_or_default()
            } else {
                n.name.clone()
            },
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attributes: n.attribute.clone(),
        })
        .collect();
    Ok(Graph {
        nodes,
        consts,
        shapes,
        inputs,
        outputs,
        proto,
    })
}

impl Graph {
    /// The inferred shape of tensor `name`.
    pub fn shape(&self, name: &str) -> Result<&[usize]> {
        self.shapes
            .get(name)
            .map(Vec::as_slice)
            .with_context(|| format!("tract could not infer the shape of tensor '{name}'"))
    }

    /// Constant `name` as `f32` values.
    pub fn const_f32(&self, name: &str) -> Result<Vec<f32>> {
        self.const_as(name)
    }

    /// Constant `name` as `i64` values (integer tensors of any width).
    pub fn const_i64(&self, name: &str) -> Result<Vec<i64>> {
        self.const_as(name)
    }

    fn const_as<T: Datum + Copy>(&self, name: &str) -> Result<Vec<T>> {
        let t = self
            .consts
            .get(name)
            .with_context(|| format!("tensor '{name}' must be a constant"))?
            .cast_to::<T>()?;
        Ok(t.to_plain_array_view::<T>()?.iter().copied().collect())
    }
}
