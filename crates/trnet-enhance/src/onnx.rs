//! ONNX Runtime plumbing: the runtime library is dlopen'ed once per process (ort `load-dynamic`), sessions
//! get explicit thread counts, and every run checks the caller's tensors against the model's declared inputs.

use crate::{Error, Result, gru_op, onnx_fuse, onnx_rewrite};
use ort::session::{Session, SessionInputValue};
use ort::value::{TensorElementType, TensorRef, ValueType};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The ONNX Runtime library in use.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    pub version: String,
    pub library: PathBuf,
}

static RUNTIME: Mutex<Option<RuntimeInfo>> = Mutex::new(None);

/// Where the runtime library is taken from: `ORT_DYLIB_PATH` at run time, else the one found at build time.
pub fn configured_library() -> Option<PathBuf> {
    std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()).map(PathBuf::from).or_else(|| option_env!("TRNET_DEFAULT_ORT_DYLIB").map(PathBuf::from))
}

/// Loads ONNX Runtime once per process and returns what was loaded. A failure is not cached, so a caller
/// can fix the path and retry.
pub fn runtime() -> Result<RuntimeInfo> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(info) = slot.as_ref() {
        return Ok(info.clone());
    }
    let library = configured_library().ok_or(Error::RuntimeLoad { path: None, reason: "no library configured".into() })?;
    if !library.is_absolute() {
        // ort resolves relative paths against the executable's folder, which for an addon is node's.
        return Err(Error::RuntimeLoad { path: Some(library), reason: "the path must be absolute".into() });
    }
    let builder = ort::init_from(&library).map_err(|e| Error::RuntimeLoad { path: Some(library.clone()), reason: e.to_string() })?;
    // Sessions size their own pools (SessionOptions); the environment keeps none of its own.
    builder.with_name("trnet").commit();
    let info = RuntimeInfo { version: version_of(ort::info(), &library), library };
    *slot = Some(info.clone());
    Ok(info)
}

/// The build-info string reads "... git-branch=rel-1.30.0, ..."; the library file is "libonnxruntime.so.1.30.0".
fn version_of(build_info: &str, library: &Path) -> String {
    let from_branch = build_info.split(['=', ',', ' ']).find_map(|w| w.strip_prefix("rel-")).map(str::to_string);
    let from_file = || {
        let name = library.file_name()?.to_string_lossy().into_owned();
        name.split_once(".so.").map(|(_, v)| v.to_string())
    };
    from_branch.or_else(from_file).unwrap_or_else(|| build_info.to_string())
}

#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    /// Threads ONNX Runtime may use inside one operator.
    pub intra_threads: usize,
    /// Run the model's GRU nodes with trnet's own kernel (`gru_op`; several times faster than ONNX Runtime's
    /// on GTCRN's shapes, equal within float rounding). On by default; `TRNET_FAST_GRU=0` in the environment turns
    /// it off for every session whatever this says.
    pub fast_gru: bool,
    /// Rewrite the session's copy of the graph into cheaper equivalent nodes (`onnx_fuse`: padding folded
    /// into convolutions, grouped convolutions made dense, linear layers as Gemm). On by default;
    /// `TRNET_GRAPH_REWRITES=0` in the environment turns it off for every session whatever this says.
    pub graph_rewrites: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { intra_threads: 1, fast_gru: true, graph_rewrites: true }
    }
}

/// `TRNET_GRAPH_REWRITES=0` turns [`SessionOptions::graph_rewrites`] off process-wide (to compare, or to rule
/// the rewrites out when a model misbehaves).
pub const GRAPH_REWRITES_ENV: &str = "TRNET_GRAPH_REWRITES";

fn graph_rewrites_enabled_by_env() -> bool {
    std::env::var(GRAPH_REWRITES_ENV).map_or(true, |v| v.trim() != "0")
}

/// A declared model input or output. Dynamic dimensions are -1.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub element_type: String,
    pub shape: Vec<i64>,
}

impl std::fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}{:?}", self.name, self.element_type, self.shape)
    }
}

/// A float32 tensor handed to [`OnnxModel::run`], borrowed from the caller (no copy on the way in).
#[derive(Debug, Clone, Copy)]
pub struct Feed<'a> {
    pub name: &'a str,
    pub shape: &'a [i64],
    pub data: &'a [f32],
}

/// A float32 model output.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub name: String,
    pub shape: Vec<i64>,
    pub data: Vec<f32>,
}

pub struct OnnxModel {
    session: Session,
    path: PathBuf,
    /// How many GRU nodes run on trnet's kernel (0 when off or when the model has none it supports).
    pub fast_grus: usize,
    /// The graph rewrites applied to the session's copy of the model (`onnx_fuse`), one line each.
    pub graph_rewrites: Vec<String>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub intra_threads: usize,
    /// ONNX Runtime's per-node profile is being recorded (`TRNET_ORT_PROFILE`); written when the model drops.
    profiling: bool,
}

/// `TRNET_ORT_PROFILE=<file prefix>`: every session records ONNX Runtime's per-node timings and writes them as
/// `<prefix>_<timestamp>.json` (Chrome trace format) when the model is dropped — where the SE time goes.
fn profile_prefix() -> Option<PathBuf> {
    std::env::var_os("TRNET_ORT_PROFILE").filter(|p| !p.is_empty()).map(PathBuf::from)
}

impl Drop for OnnxModel {
    fn drop(&mut self) {
        if self.profiling {
            match self.session.end_profiling() {
                Ok(file) => eprintln!("trnet: ONNX Runtime profile of {} written to {file}", self.path.display()),
                Err(e) => eprintln!("trnet: ONNX Runtime profile of {} not written: {e}", self.path.display()),
            }
        }
    }
}

fn spec(name: &str, dtype: &ValueType) -> TensorSpec {
    let element_type = match dtype.tensor_type() {
        Some(TensorElementType::Float32) => "float32".to_string(),
        Some(other) => format!("{other:?}").to_lowercase(),
        None => "non-tensor".to_string(),
    };
    let shape = dtype.tensor_shape().map(|s| s.iter().copied().collect()).unwrap_or_default();
    TensorSpec { name: name.to_string(), element_type, shape }
}

impl OnnxModel {
    pub fn load(path: impl AsRef<Path>, options: SessionOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        runtime()?;
        let load_err = |reason: String| Error::ModelLoad { path: path.clone(), reason };
        match std::fs::metadata(&path) {
            Err(e) => return Err(load_err(format!("{e}; check the path (relative paths are resolved from {})", cwd()))),
            Ok(m) if !m.is_file() => return Err(load_err("not a regular file".into())),
            Ok(m) if m.len() == 0 => return Err(load_err("the file is empty".into())),
            Ok(_) => {}
        }
        let intra_threads = options.intra_threads.max(1);
        let threads = |e: ort::Error<_>| Error::Ort { during: "configuring session threads".into(), reason: e.to_string() };
        let mut builder = Session::builder()
            .map_err(Error::ort("creating a session builder"))?
            .with_intra_threads(intra_threads)
            .map_err(threads)?
            .with_inter_threads(1)
            .map_err(threads)?
            .with_intra_op_spinning(false)
            .map_err(threads)?;
        let profiling = profile_prefix();
        if let Some(prefix) = &profiling {
            builder = builder
                .with_profiling(prefix)
                .map_err(|e| Error::Ort { during: "enabling ONNX Runtime profiling (TRNET_ORT_PROFILE)".into(), reason: e.to_string() })?;
        }
        let fast_gru = options.fast_gru && gru_op::enabled_by_env();
        let fuse = options.graph_rewrites && graph_rewrites_enabled_by_env();
        let rerouted = if fast_gru || fuse { rewrite(&path, fast_gru, fuse)? } else { Rerouted::AsIs(None) };
        let (session, fast_grus, graph_rewrites) = match rerouted {
            Rerouted::AsIs(unparsed) => {
                // Bytes the rewriter could not read go to ONNX Runtime as they are (it also reads the ORT
                // format, which is not protobuf); if it cannot load them either, both reasons are given.
                let also = unparsed.map(|why| format!("; trnet's reader: not an ONNX protobuf ({why})")).unwrap_or_default();
                (builder.commit_from_file(&path).map_err(|e| load_err(format!("{e}{also}; is it an ONNX model file?")))?, 0, Vec::new())
            }
            Rerouted::Rewritten { bytes, fast_grus: 0, rewrites } => {
                let hint = format!("; trnet rewrote the graph in memory ({}): set {GRAPH_REWRITES_ENV}=0 to load it as it is", rewrites.join("; "));
                (builder.commit_from_memory(&bytes).map_err(|e| load_err(format!("{e}{hint}")))?, 0, rewrites)
            }
            Rerouted::Rewritten { bytes, fast_grus: count, rewrites } => {
                let also = if rewrites.is_empty() {
                    String::new()
                } else {
                    format!(" (trnet also rewrote the graph in memory: {}; set {GRAPH_REWRITES_ENV}=0 to rule that out)", rewrites.join("; "))
                };
                let fast = |during: &str, reason: String| Error::FastGru { path: path.clone(), during: during.to_string(), reason: format!("{reason}{also}") };
                let domain = gru_op::domain().map_err(|e| fast("registering the operator", e.to_string()))?;
                let session = builder
                    .with_operators(domain)
                    .map_err(|e| fast("registering the operator", e.to_string()))?
                    .commit_from_memory(&bytes)
                    .map_err(|e| fast("creating the session with the rerouted GRU nodes", e.to_string()))?;
                (session, count, rewrites)
            }
        };
        let inputs = session.inputs().iter().map(|o| spec(o.name(), o.dtype())).collect();
        let outputs = session.outputs().iter().map(|o| spec(o.name(), o.dtype())).collect();
        Ok(OnnxModel { session, path, fast_grus, graph_rewrites, inputs, outputs, intra_threads, profiling: profiling.is_some() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the model on float32 inputs and returns every float32 output in the model's output order.
    pub fn run(&mut self, feeds: &[Feed<'_>]) -> Result<Vec<Fetched>> {
        self.check_feeds(feeds)?;
        let mut values: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(feeds.len());
        for feed in feeds {
            let view = TensorRef::from_array_view((feed.shape.to_vec(), feed.data)).map_err(Error::ort("wrapping an input tensor"))?;
            values.push((Cow::Borrowed(feed.name), view.into()));
        }
        let outputs = self.session.run(values).map_err(Error::ort("running the model"))?;
        let mut fetched = Vec::with_capacity(self.outputs.len());
        for (name, value) in outputs.iter() {
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| Error::Ort { during: format!("reading output {name}"), reason: format!("{e}; trnet reads float32 outputs only") })?;
            fetched.push(Fetched { name: name.to_string(), shape: shape.iter().copied().collect(), data: data.to_vec() });
        }
        Ok(fetched)
    }

    fn check_feeds(&self, feeds: &[Feed<'_>]) -> Result<()> {
        let expected = || self.inputs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let found = || feeds.iter().map(|f| format!("{} float32{:?} ({} values)", f.name, f.shape, f.data.len())).collect::<Vec<_>>().join(", ");
        let mismatch = |fix: String| Error::ModelInputs { path: self.path.clone(), expected: expected(), found: found(), fix };

        for (i, feed) in feeds.iter().enumerate() {
            if feeds[..i].iter().any(|f| f.name == feed.name) {
                return Err(mismatch(format!("Input {:?} is given twice.", feed.name)));
            }
            let Some(spec) = self.inputs.iter().find(|s| s.name == feed.name) else {
                return Err(mismatch(format!("The model has no input named {:?}.", feed.name)));
            };
            if spec.element_type != "float32" {
                return Err(mismatch(format!("Input {:?} is {}; trnet feeds float32 only.", spec.name, spec.element_type)));
            }
            let fits = spec.shape.len() == feed.shape.len() && spec.shape.iter().zip(feed.shape).all(|(&want, &got)| got >= 0 && (want < 0 || want == got));
            if !fits {
                return Err(mismatch(format!("Input {:?} must have shape {:?} (-1 = any size).", spec.name, spec.shape)));
            }
            let count: i64 = feed.shape.iter().product();
            if count as usize != feed.data.len() {
                return Err(mismatch(format!(
                    "Input {:?} has shape {:?}, which holds {count} values, but {} were given.",
                    feed.name,
                    feed.shape,
                    feed.data.len()
                )));
            }
        }
        if let Some(missing) = self.inputs.iter().find(|s| !feeds.iter().any(|f| f.name == s.name)) {
            return Err(mismatch(format!("Input {:?} is missing.", missing.name)));
        }
        Ok(())
    }
}

enum Rerouted {
    /// The model with this many GRU nodes routed to trnet's operator and these graph rewrites.
    Rewritten { bytes: Vec<u8>, fast_grus: usize, rewrites: Vec<String> },
    /// Load the file as it is: nothing to reroute, or (Some) bytes the rewriter could not read, and why.
    AsIs(Option<String>),
}

/// The model's bytes with its GRU nodes rerouted (`fast_gru`) and then the graph rewrites (`fuse`) applied.
fn rewrite(path: &Path, fast_gru: bool, fuse: bool) -> Result<Rerouted> {
    let bytes = std::fs::read(path).map_err(|e| Error::ModelLoad { path: path.to_path_buf(), reason: e.to_string() })?;
    let (mut current, mut fast_grus) = (None, 0);
    if fast_gru {
        match onnx_rewrite::reroute_grus(&bytes, gru_op::DOMAIN, gru_op::OP) {
            Ok(onnx_rewrite::Rerouted { bytes: Some(b), rerouted, .. }) => (current, fast_grus) = (Some(b), rerouted),
            Ok(_) => {}
            Err(why) => return Ok(Rerouted::AsIs(Some(why))),
        }
    }
    let mut rewrites = Vec::new();
    if fuse {
        match onnx_fuse::fuse(current.as_deref().unwrap_or(&bytes)) {
            Ok(onnx_fuse::Fused { bytes: Some(b), applied }) => (current, rewrites) = (Some(b), applied),
            Ok(_) => {}
            Err(why) => return Ok(Rerouted::AsIs(Some(why))),
        }
    }
    Ok(match current {
        Some(bytes) => Rerouted::Rewritten { bytes, fast_grus, rewrites },
        None => Rerouted::AsIs(None),
    })
}

fn cwd() -> String {
    std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_else(|_| "the current directory".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_comes_from_the_build_branch_or_the_file_name() {
        let lib = Path::new("/x/libonnxruntime.so.1.30.0");
        assert_eq!(version_of("ORT Build Info: git-branch=rel-1.29.1, git-commit-id=abc", lib), "1.29.1");
        assert_eq!(version_of("ORT Build Info: git-branch=main", lib), "1.30.0");
    }
}
