//! GTCRN (Rong et al., ICASSP 2024) through its streaming ONNX export, run over a whole utterance.
//!
//! Front end (models/gtcrn/README.md): STFT with n_fft 512, hop 256, √(periodic Hann), centred with reflect
//! padding → 257 bins. Each frame goes through the model on its own, as `mix` [1, 257, 1, 2] (bins ×
//! (real, imag)), together with the model's state tensors; the state comes back as `<name>_out` and is fed
//! in with the next frame. All state starts at zero, so every utterance is enhanced independently. The
//! enhanced frames (`enh`, no frame delay) are stacked and inverted with the same STFT.
//!
//! The state tensors are read from the model rather than hard-coded: every input other than `mix` is state
//! and must have a fixed shape and an output `<name>_out` of the same shape. The published exports
//! (`gtcrn.onnx`, `gtcrn_simple.onnx`) have three: conv_cache, tra_cache, inter_cache.
//!
//! Inputs of 256 samples or fewer are too short to reflect-pad; they are zero-padded instead (see
//! `enhancer::Framing`).

use crate::enhancer::{Enhancer, Framing, check_noisy, describe_stft, file_sha256};
use crate::onnx::{Feed, OnnxModel, SessionOptions, TensorSpec};
use crate::{Error, Result};
use std::path::Path;
use trnet_dsp::stft::{Spectrogram, StftConfig};

const PROCESSING_VERSION: u32 = 1;
const CONTRACT: &str = "the GTCRN streaming contract";
const FRAME_SHAPE: [i64; 4] = [1, 257, 1, 2];

struct State {
    name: String,
    output: String,
    shape: Vec<i64>,
}

pub struct Gtcrn {
    model: OnnxModel,
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
        let states = Self::states_of(&model)?;
        let enh_index = model.outputs.iter().position(|o| o.name == "enh").expect("checked by states_of");
        let state_out_index = states.iter().map(|s| model.outputs.iter().position(|o| o.name == s.output).expect("checked")).collect();
        let sha256 = file_sha256(model.path())?;
        Ok(Gtcrn { framing: Framing::new(StftConfig::gtcrn())?, model, states, sha256, enh_index, state_out_index })
    }

    /// Works out the state tensors, or says how the model differs from the streaming contract.
    fn states_of(model: &OnnxModel) -> Result<Vec<State>> {
        let list = |specs: &[TensorSpec]| specs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let mismatch = |fix: String| Error::ModelContract {
            path: model.path().to_path_buf(),
            contract: CONTRACT.into(),
            expected: format!(
                "input mix float32{FRAME_SHAPE:?} plus fixed-shape state inputs S, outputs enh float32{FRAME_SHAPE:?} plus S_out of the same shapes (the published export: conv_cache [2, 1, 16, 16, 33], tra_cache [2, 3, 1, 1, 16], inter_cache [2, 1, 33, 16])"
            ),
            found: format!("inputs [{}], outputs [{}]", list(&model.inputs), list(&model.outputs)),
            fix,
        };
        let frame_ok = |s: Option<&TensorSpec>| s.is_some_and(|s| s.element_type == "float32" && s.shape == FRAME_SHAPE);
        if !frame_ok(model.inputs.iter().find(|s| s.name == "mix")) {
            return Err(mismatch("Use GTCRN's streaming export (stream/onnx_models/gtcrn*.onnx), which takes one frame as `mix`.".into()));
        }
        if !frame_ok(model.outputs.iter().find(|s| s.name == "enh")) {
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
        Ok(states)
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
                return Err(Error::ModelOutput {
                    path: self.model.path().to_path_buf(),
                    expected: format!("enh with {width} finite values"),
                    found: format!("{} values, shape {:?}, finite: {}", enh.data.len(), enh.shape, enh.data.iter().all(|v| v.is_finite())),
                    fix: "Check that the file is a GTCRN streaming export.".into(),
                });
            }
            out.data[t * width..(t + 1) * width].copy_from_slice(&enh.data);
            for (cache, &i) in caches.iter_mut().zip(&self.state_out_index) {
                *cache = std::mem::take(&mut fetched[i].data);
            }
        }
        Ok(out)
    }
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
        let enhanced = self.run_frames(&spec)?;
        self.framing.synthesise(&enhanced, noisy.len())
    }

    fn fingerprint(&self) -> String {
        format!("gtcrn;stream-v{PROCESSING_VERSION};sha256={};{}", self.sha256, describe_stft(self.framing.config()))
    }
}
