//! trnet's GRU ([`crate::gru`]) as an ONNX Runtime custom operator, `ai.trnet:FastGRU`, with the inputs,
//! outputs and attributes of ONNX's `GRU`. Sessions get it when [`crate::onnx::SessionOptions::fast_gru`] is on
//! (the default; `TRNET_FAST_GRU=0` turns it off for the whole process): the model bytes go through
//! [`crate::onnx_rewrite::reroute_grus`], which renames the GRU nodes the kernel supports, and the session is made
//! from those bytes with this operator's domain registered. Everything else in the graph still runs in ONNX
//! Runtime.
//!
//! W, R and B are initializers in every export trnet reads, so the kernel lays them out once when the session
//! creates it; a graph that computes them is served too, by packing them on every run.
//!
//! Two attributes beyond ONNX's let the rewriter fold the Transposes that PyTorch's export puts around a
//! `batch_first` GRU into the kernel's reads and writes: `x_perm` (ints, 3) — the X tensor given is
//! Transpose(X as ONNX lays it out, x_perm) — and `y_perm` (ints, 4) — Y is written as Transpose(Y as ONNX lays it
//! out, y_perm). Both default to the identity.

use crate::gru::{Direction, GruIo, GruWeights, permuted_strides};
use ort::operator::{ComputeContext, Kernel, KernelContext, Operator, OperatorDomain, OperatorInput, OperatorOutput, ShapeInferenceContext};
use ort::value::{Shape, SymbolicDimensions, TensorElementType, TensorValueType, ValueType};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const DOMAIN: &str = "ai.trnet";
pub const OP: &str = "FastGRU";
/// Turns the operator off for every session of the process when set to `0` (or `off`, `false`, `no`).
pub const ENV: &str = "TRNET_FAST_GRU";

/// Runs (of every FastGRU kernel in the process) that had to lay out W, R and B themselves because the session
/// did not give them as constants; the layout (transposes, zero spans) then costs every run. 0 for every export
/// trnet reads (tests check it).
pub fn runs_that_packed_weights() -> usize {
    PACKED_PER_RUN.load(Ordering::Relaxed)
}

static PACKED_PER_RUN: AtomicUsize = AtomicUsize::new(0);

/// Whether the environment leaves the operator on.
pub fn enabled_by_env() -> bool {
    !std::env::var(ENV).is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "off" | "false" | "no"))
}

/// The domain holding the operator, to hand to `SessionBuilder::with_operators`.
pub fn domain() -> ort::Result<OperatorDomain> {
    OperatorDomain::new(DOMAIN)?.add(FastGru)
}

struct FastGru;

impl Operator for FastGru {
    type Kernel<'attr> = GruKernel;

    fn name(&self) -> &str {
        OP
    }

    fn inputs(&self) -> impl IntoIterator<Item = OperatorInput> {
        [
            OperatorInput::required(TensorElementType::Float32), // X
            OperatorInput::required(TensorElementType::Float32), // W
            OperatorInput::required(TensorElementType::Float32), // R
            OperatorInput::optional(TensorElementType::Float32), // B
            OperatorInput::optional(TensorElementType::Int32),   // sequence_lens (the rewriter never routes it here)
            OperatorInput::optional(TensorElementType::Float32), // initial_h
        ]
    }

    fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
        [OperatorOutput::optional(TensorElementType::Float32), OperatorOutput::optional(TensorElementType::Float32)]
    }

    /// Y [seq, dirs, batch, hidden] (stored in `y_perm` order) and Y_h [dirs, batch, hidden], keeping X's named
    /// dimensions: without this the session would lose every static size downstream of a GRU (GTCRN's output
    /// would read [1, -1, -1, 2]). An unknown dimension must get a name of its own: a bare -1 here reaches the
    /// memory planner, which then takes differently sized tensors for the same shape and fails at run time
    /// ("Shape mismatch attempting to re-use buffer").
    fn infer_shape(&self, ctx: &mut ShapeInferenceContext) -> ort::Result<()> {
        static FRESH: AtomicUsize = AtomicUsize::new(0);
        let inputs = ctx.inputs();
        let Some(ValueType::Tensor { ty, shape, dimension_symbols }) = inputs.first() else {
            return Ok(());
        };
        let (Some(x_perm), Some(y_perm)) = (perm::<3>(ctx.attr::<Vec<i64>>("x_perm").ok()), perm::<4>(ctx.attr::<Vec<i64>>("y_perm").ok())) else {
            return Ok(());
        };
        if shape.len() != 3 {
            return Ok(());
        }
        let hidden: i64 = ctx.attr("hidden_size")?;
        let dirs = ctx.attr::<String>("direction").ok().and_then(|d| Direction::parse(&d)).unwrap_or(Direction::Forward).count() as i64;
        // Logical X axis x_perm[k] is stored axis k.
        let mut logical = [(0i64, String::new()), (0, String::new()), (0, String::new())];
        for (k, &axis) in x_perm.iter().enumerate() {
            let name = match dimension_symbols.get(k) {
                Some(s) if !s.is_empty() => s.clone(),
                _ if shape[k] >= 0 => String::new(),
                _ => format!("trnet_fast_gru_{}", FRESH.fetch_add(1, Ordering::Relaxed)),
            };
            logical[axis] = (shape[k], name);
        }
        let [(seq, seq_name), (batch, batch_name), _] = logical;
        let y_axes = [(seq, seq_name), (dirs, String::new()), (batch, batch_name.clone()), (hidden, String::new())];
        let (y_dims, y_names): (Vec<i64>, Vec<String>) = y_perm.iter().map(|&a| y_axes[a].clone()).unzip();
        let tensor =
            |dims: Vec<i64>, names: Vec<String>| ValueType::Tensor { ty: *ty, shape: Shape::new(dims), dimension_symbols: SymbolicDimensions::new(names) };
        ctx.set_output(0, &tensor(y_dims, y_names))?;
        ctx.set_output(1, &tensor(vec![dirs, batch, hidden], vec![String::new(), batch_name, String::new()]))
    }

    fn create_kernel<'attr>(&self, ctx: &KernelContext<'attr>) -> ort::Result<GruKernel> {
        let node = ctx.node_name().unwrap_or_default();
        let fail = |what: String| ort::Error::new(format!("{OP} node {node:?}: {what}"));
        let hidden = ctx.get::<i64>("hidden_size").filter(|&h| h > 0).ok_or_else(|| fail("needs a positive hidden_size attribute".into()))? as usize;
        let direction_name = ctx.get::<String>("direction").unwrap_or_else(|| "forward".into());
        let direction =
            Direction::parse(&direction_name).ok_or_else(|| fail(format!("direction {direction_name:?} is not forward, reverse or bidirectional")))?;
        if ctx.get::<i64>("linear_before_reset") != Some(1) {
            return Err(fail("computes linear_before_reset = 1 only".into()));
        }
        let constant = |i: usize| ctx.constant_input::<TensorValueType<f32>>(i).ok().map(|v| v.extract_tensor().1.to_vec());
        let weights = match (constant(1), constant(2)) {
            (Some(w), Some(r)) => {
                let b = constant(3);
                let input = w.len() / (direction.count() * 3 * hidden).max(1);
                Some(GruWeights::new(direction, hidden, input, &w, &r, b.as_deref()).map_err(fail)?)
            }
            _ => None,
        };
        let x_perm = perm::<3>(ctx.get::<Vec<i64>>("x_perm")).ok_or_else(|| fail("x_perm is not a permutation of 3 axes".into()))?;
        let y_perm = perm::<4>(ctx.get::<Vec<i64>>("y_perm")).ok_or_else(|| fail("y_perm is not a permutation of 4 axes".into()))?;
        Ok(GruKernel { node, direction, hidden, weights, x_perm, y_perm })
    }
}

struct GruKernel {
    node: String,
    direction: Direction,
    hidden: usize,
    /// Laid out at creation when W, R (and B) are constants.
    weights: Option<GruWeights>,
    x_perm: [usize; 3],
    y_perm: [usize; 4],
}

/// An optional `x_perm` / `y_perm` attribute: absent = ONNX's own layout; None if not a permutation of N axes.
fn perm<const N: usize>(attr: Option<Vec<i64>>) -> Option<[usize; N]> {
    let Some(p) = attr else {
        return Some(std::array::from_fn(|i| i));
    };
    let mut out = [0usize; N];
    let mut seen = [false; N];
    if p.len() != N {
        return None;
    }
    for (o, &v) in out.iter_mut().zip(&p) {
        let v = usize::try_from(v).ok().filter(|&v| v < N)?;
        if std::mem::replace(&mut seen[v], true) {
            return None;
        }
        *o = v;
    }
    Some(out)
}

impl Kernel for GruKernel {
    fn compute(&mut self, ctx: &ComputeContext) -> ort::Result<()> {
        // A panic must not unwind into ONNX Runtime's C++ frames (that aborts the process): it becomes the
        // session's error instead.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(ctx)))
            .unwrap_or_else(|_| Err(ort::Error::new(format!("{OP} node {:?}: the kernel panicked (a trnet bug; set {ENV}=0 to avoid it)", self.node))))
    }
}

impl GruKernel {
    fn run(&self, ctx: &ComputeContext) -> ort::Result<()> {
        let fail = |what: String| ort::Error::new(format!("{OP} node {:?}: {what}", self.node));
        let x = ctx.input(0)?.ok_or_else(|| fail("X is missing".into()))?;
        let (x_shape, x) = x.try_extract_tensor::<f32>()?;
        if x_shape.len() != 3 || x_shape.iter().any(|&d| d < 0) {
            return Err(fail(format!("X has shape {:?}; a 3-D tensor was expected", &x_shape[..])));
        }
        // Stored axis k of X is its logical axis x_perm[k] (seq, batch, input).
        let mut logical = [0usize; 3];
        for (k, &axis) in self.x_perm.iter().enumerate() {
            logical[axis] = x_shape[k] as usize;
        }
        let [seq, batch, input] = logical;
        if matches!(ctx.input(4), Ok(Some(_))) {
            return Err(fail("sequence_lens is not supported".into()));
        }
        let packed;
        let weights = match &self.weights {
            Some(w) => w,
            None => {
                let tensor =
                    |i: usize| -> ort::Result<Option<Vec<f32>>> { ctx.input(i)?.map(|v| v.try_extract_tensor::<f32>().map(|(_, d)| d.to_vec())).transpose() };
                let w = tensor(1)?.ok_or_else(|| fail("W is missing".into()))?;
                let r = tensor(2)?.ok_or_else(|| fail("R is missing".into()))?;
                packed = GruWeights::new(self.direction, self.hidden, input, &w, &r, tensor(3)?.as_deref()).map_err(fail)?;
                PACKED_PER_RUN.fetch_add(1, Ordering::Relaxed);
                &packed
            }
        };
        if weights.input != input {
            return Err(fail(format!("X has {input} features but W was made for {}", weights.input)));
        }
        let h0 = ctx.input(5)?;
        let initial_h = match &h0 {
            Some(v) => Some(v.try_extract_tensor::<f32>()?.1),
            None => None,
        };
        let (dirs, hidden) = (self.direction.count(), self.hidden);
        let y_logical = [seq, dirs, batch, hidden];
        let y_shape: Vec<i64> = self.y_perm.iter().map(|&a| y_logical[a] as i64).collect();
        let mut y = ctx.output(0, y_shape).ok().flatten();
        let mut y_h = ctx.output(1, vec![dirs as i64, batch as i64, hidden as i64]).ok().flatten();
        let y_data = match y.as_mut() {
            Some(v) => Some(v.try_extract_tensor_mut::<f32>()?.1),
            None => None,
        };
        let y_h_data = match y_h.as_mut() {
            Some(v) => Some(v.try_extract_tensor_mut::<f32>()?.1),
            None => None,
        };
        let as_i64 = |p: &[usize]| p.iter().map(|&v| v as i64).collect::<Vec<_>>();
        let mut io = GruIo::new(weights, seq, batch, x, initial_h, y_data, y_h_data);
        io.x_strides = permuted_strides([seq, batch, input], &as_i64(&self.x_perm)).map_err(fail)?;
        io.y_strides = permuted_strides(y_logical, &as_i64(&self.y_perm)).map_err(fail)?;
        crate::gru::run(weights, io).map_err(fail)
    }
}
