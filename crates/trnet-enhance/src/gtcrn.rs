//! GTCRN (Rong et al., ICASSP 2024) run over a whole utterance from one of two ONNX exports:
//!
//! - the published **streaming** export (`gtcrn.onnx`, `gtcrn_simple.onnx`): one frame per call, as `mix`
//!   [1, 257, 1, 2] (bins × (real, imag)), together with the model's state tensors; the state comes back as
//!   `<name>_out` and is fed in with the next frame. All state starts at zero, so every utterance is enhanced
//!   independently. The state tensors are read from the model rather than hard-coded: every input other than
//!   `mix` is state and must have a fixed shape and an output `<name>_out` of the same shape (the published
//!   exports have three: conv_cache, tra_cache, inter_cache).
//! - the **whole-utterance** export made by `scripts/export-gtcrn-offline.py` from the same checkpoint: one
//!   input `mix` [1, 257, T, 2] with a dynamic frame axis and nothing else, one output `enh` of the same shape;
//!   all frames go through one `session.run`. The network is causal, so this computes what the streaming export
//!   computes (equal to ~1e-5 on the spectrum), at a fraction of the per-call overhead.
//!
//! Which one a file is gets decided from its declared inputs; both are the enhancer kind `gtcrn`. Their
//! fingerprints differ (the file's SHA-256, and `stream-v1` vs `utterance-v1`).
//!
//! Making the whole-utterance export: `scripts/export-gtcrn-offline.sh` (prints the path,
//! `$TRNET_CACHE/models/gtcrn-offline-v1-<checkpoint sha256, 16 hex>.onnx`; `npm run setup` and `npm test` run
//! it). The script rebuilds GTCRN in PyTorch, loads the checkpoint strictly, rewrites it for inference (batch
//! norm folded, stride-1 transposed convs as convs, PReLU as LeakyReLU, the grouped GRU pairs as one GRU with
//! block-diagonal weights), exports with opset 17, and checks the file frame by frame against the streaming
//! export on a VoiceBank and a RAVDESS recording (max difference 1e-5 on spectra peaking at 34).
//!
//! Speed and agreement between the two exports: the README's Benchmarks section (`bench/enhance.ts`) and
//! `tests/gtcrn_offline.rs`.
//!
//! Front end (models/gtcrn/README.md): STFT with n_fft 512, hop 256, √(periodic Hann), centred with reflect
//! padding → 257 bins; the enhanced frames (`enh`, no frame delay) are inverted with the same STFT.
//! Inputs of 256 samples or fewer are too short to reflect-pad; they are zero-padded instead (see
//! `enhancer::Framing`).

use crate::enhancer::{Enhancer, Framing, check_noisy, describe_stft, file_sha256};
use crate::onnx::{Feed, OnnxModel, SessionOptions, TensorSpec};
use crate::{Error, Result};
use std::path::Path;
use trnet_dsp::stft::{Spectrogram, StftConfig};

const PROCESSING_VERSION: u32 = 1;
const CONTRACT: &str = "the GTCRN contract (streaming or whole-utterance)";
const FRAME_SHAPE: [i64; 4] = [1, 257, 1, 2];
/// The whole-utterance contract: a dynamic frame axis.
const UTTERANCE_SHAPE: [i64; 4] = [1, 257, -1, 2];
const BINS: usize = 257;

struct State {
    name: String,
    output: String,
    shape: Vec<i64>,
}

/// How the model is driven, as read from its declared inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GtcrnMode {
    /// One frame per call, state fed back (the published export).
    Streaming,
    /// Every frame in one call (`scripts/export-gtcrn-offline.py`).
    Utterance,
}

pub struct Gtcrn {
    model: OnnxModel,
    mode: GtcrnMode,
    /// Empty for the whole-utterance export.
    states: Vec<State>,
    framing: Framing,
    sha256: String,
    /// Positions of `enh` and of each state's output in the model's output order.
    enh_index: usize,
    state_out_index: Vec<usize>,
}

impl Gtcrn {
    pub fn load(path: impl AsRef<Path>, options: SessionOptions) -> Result<Self> {
        let model = OnnxModel::load(path.as_ref(), options)?;
        let (mode, states) = Self::contract_of(&model)?;
        let enh_index = model.outputs.iter().position(|o| o.name == "enh").expect("checked by contract_of");
        let state_out_index = states.iter().map(|s| model.outputs.iter().position(|o| o.name == s.output).expect("checked")).collect();
        let sha256 = file_sha256(model.path())?;
        Ok(Gtcrn { framing: Framing::new(StftConfig::gtcrn())?, model, mode, states, sha256, enh_index, state_out_index })
    }

    pub fn mode(&self) -> GtcrnMode {
        self.mode
    }

    /// How many of the model's GRU nodes run on trnet's FastGRU operator (`onnx::SessionOptions::fast_gru`).
    pub fn fast_grus(&self) -> usize {
        self.model.fast_grus
    }

    /// Tells the two contracts apart and works out the state tensors, or says how the model differs from both.
    fn contract_of(model: &OnnxModel) -> Result<(GtcrnMode, Vec<State>)> {
        let list = |specs: &[TensorSpec]| specs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let mismatch = |fix: String| Error::ModelContract {
            path: model.path().to_path_buf(),
            contract: CONTRACT.into(),
            expected: format!(
                "either (streaming) input mix float32{FRAME_SHAPE:?} plus fixed-shape state inputs S, outputs enh float32{FRAME_SHAPE:?} plus S_out of the same shapes (the published export: conv_cache [2, 1, 16, 16, 33], tra_cache [2, 3, 1, 1, 16], inter_cache [2, 1, 33, 16]), or (whole utterance) the one input mix float32{UTTERANCE_SHAPE:?} and an output enh float32{UTTERANCE_SHAPE:?} (-1 = dynamic frame axis)"
            ),
            found: format!("inputs [{}], outputs [{}]", list(&model.inputs), list(&model.outputs)),
            fix,
        };
        let float = |s: &TensorSpec| s.element_type == "float32";
        // Whole utterance: 257 bins, (real, imag), a dynamic frame axis; batch 1 (or left dynamic by the exporter).
        let utterance_ok = |s: &TensorSpec| float(s) && matches!(s.shape.as_slice(), &[b, 257, t, 2] if (b == 1 || b < 0) && t < 0);
        let mix = model.inputs.iter().find(|s| s.name == "mix");
        let enh = model.outputs.iter().find(|s| s.name == "enh");
        if let (Some(mix), [_only]) = (mix, model.inputs.as_slice())
            && utterance_ok(mix)
        {
            return match enh {
                Some(enh) if utterance_ok(enh) => Ok((GtcrnMode::Utterance, Vec::new())),
                _ => Err(mismatch("A whole-utterance export must return the enhanced spectrum as `enh` with the input's shape.".into())),
            };
        }
        let frame_ok = |s: Option<&TensorSpec>| s.is_some_and(|s| float(s) && s.shape == FRAME_SHAPE);
        if !frame_ok(mix) {
            return Err(mismatch(
                "Use GTCRN's streaming export (stream/onnx_models/gtcrn*.onnx), which takes one frame as `mix`, or a whole-utterance export made by scripts/export-gtcrn-offline.py.".into(),
            ));
        }
        if !frame_ok(enh) {
            return Err(mismatch("The model must return the enhanced frame as `enh`.".into()));
        }
        let mut states = Vec::new();
        for input in model.inputs.iter().filter(|s| s.name != "mix") {
            if input.element_type != "float32" || input.shape.iter().any(|&d| d < 0) {
                return Err(mismatch(format!("State input {:?} must be float32 with a fixed shape.", input.name)));
            }
            let output = format!("{}_out", input.name);
            match model.outputs.iter().find(|o| o.name == output) {
                Some(o) if o.shape == input.shape => {}
                _ => return Err(mismatch(format!("State input {:?} needs an output {output:?} of shape {:?} to feed back.", input.name, input.shape))),
            }
            states.push(State { name: input.name.clone(), output, shape: input.shape.clone() });
        }
        Ok((GtcrnMode::Streaming, states))
    }

    fn bad_output(&self, what: &str, width: usize, data: &[f32], shape: &[i64]) -> Error {
        Error::ModelOutput {
            path: self.model.path().to_path_buf(),
            expected: format!("enh with {width} finite values"),
            found: format!("{} values, shape {shape:?}, finite: {}", data.len(), data.iter().all(|v| v.is_finite())),
            fix: format!("Check that the file is a GTCRN {what}."),
        }
    }

    /// All frames in one call. The spectrogram is frame-major (T × bins × 2); the model wants bins × T × 2.
    fn run_utterance(&mut self, spec: &Spectrogram) -> Result<Spectrogram> {
        let (frames, bins) = (spec.frames, spec.bins);
        debug_assert_eq!(bins, BINS);
        let mix = swap_axes(&spec.data, frames, bins);
        let shape = [1, bins as i64, frames as i64, 2];
        let fetched = self.model.run(&[Feed { name: "mix", shape: &shape, data: &mix }])?;
        let enh = &fetched[self.enh_index];
        if enh.data.len() != mix.len() || enh.shape != shape || enh.data.iter().any(|v| !v.is_finite()) {
            return Err(self.bad_output("whole-utterance export", mix.len(), &enh.data, &enh.shape));
        }
        Ok(Spectrogram { frames, bins, data: swap_axes(&enh.data, bins, frames) })
    }

    fn run_frames(&mut self, spec: &Spectrogram) -> Result<Spectrogram> {
        let width = spec.bins * 2;
        let mut caches: Vec<Vec<f32>> = self.states.iter().map(|s| vec![0.0; s.shape.iter().product::<i64>() as usize]).collect();
        let mut out = Spectrogram { frames: spec.frames, bins: spec.bins, data: vec![0.0; spec.data.len()] };
        for t in 0..spec.frames {
            // Frame-major spectrogram data is already bins × (real, imag), the layout `mix` wants.
            let frame = &spec.data[t * width..(t + 1) * width];
            let mut feeds = Vec::with_capacity(1 + self.states.len());
            feeds.push(Feed { name: "mix", shape: &FRAME_SHAPE, data: frame });
            for (state, data) in self.states.iter().zip(&caches) {
                feeds.push(Feed { name: &state.name, shape: &state.shape, data });
            }
            let mut fetched = self.model.run(&feeds)?;
            let enh = &fetched[self.enh_index];
            if enh.data.len() != width || enh.data.iter().any(|v| !v.is_finite()) {
                return Err(self.bad_output("streaming export", width, &enh.data, &enh.shape));
            }
            out.data[t * width..(t + 1) * width].copy_from_slice(&enh.data);
            for (cache, &i) in caches.iter_mut().zip(&self.state_out_index) {
                *cache = std::mem::take(&mut fetched[i].data);
            }
        }
        Ok(out)
    }
}

/// (rows × cols × 2) → (cols × rows × 2): moves between the frame-major spectrogram and the model's layout,
/// keeping each (real, imag) pair together.
fn swap_axes(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            let (src, dst) = ((r * cols + c) * 2, (c * rows + r) * 2);
            out[dst..dst + 2].copy_from_slice(&data[src..src + 2]);
        }
    }
    out
}

impl Enhancer for Gtcrn {
    fn name(&self) -> &str {
        "gtcrn"
    }

    fn enhance(&mut self, noisy: &[f32]) -> Result<Vec<f32>> {
        check_noisy(noisy)?;
        if noisy.is_empty() {
            return Ok(Vec::new());
        }
        let spec = self.framing.analyse(noisy)?;
        let enhanced = match self.mode {
            GtcrnMode::Streaming => self.run_frames(&spec)?,
            GtcrnMode::Utterance => self.run_utterance(&spec)?,
        };
        self.framing.synthesise(&enhanced, noisy.len())
    }

    fn fingerprint(&self) -> String {
        let mode = match self.mode {
            GtcrnMode::Streaming => "stream",
            GtcrnMode::Utterance => "utterance",
        };
        format!("gtcrn;{mode}-v{PROCESSING_VERSION};sha256={};{}", self.sha256, describe_stft(self.framing.config()))
    }
}
