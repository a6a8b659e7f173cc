//! The engine behind every spectrum→spectrum ONNX model (CMGAN exports and `kind: "spectrum"` model cards):
//! optional RMS normalisation → STFT → optional power-law compression → the model, on the whole utterance at
//! once → decompression → inverse STFT → undo the normalisation.
//!
//! The tensor layout is described by four letters, one per axis in memory order: `B` batch (always 1), `C`
//! the (real, imaginary) pair, `T` frames, `F` frequency bins. CMGAN's generator takes `BCTF` = [1, 2, T, F];
//! GTCRN's offline model takes `BFTC` = [1, F, T, 2]. Real and imaginary parts can instead travel in two
//! tensors (CMGAN's generator returns `est_real`, `est_imag`), each with C = 1.

use crate::enhancer::{Enhancer, Framing, check_noisy, describe_stft, file_sha256};
use crate::onnx::{Feed, Fetched, OnnxModel, SessionOptions, TensorSpec};
use crate::{Error, Result};
use std::path::Path;
use trnet_dsp::stft::{Spectrogram, StftConfig};

/// Bump when the processing around the model changes, so that cached outputs keyed by the fingerprint expire.
const PROCESSING_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    Batch,
    Channel,
    Time,
    Freq,
}

/// The order of a spectrum tensor's four axes in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout(pub [Axis; 4]);

impl Layout {
    /// CMGAN's generator: [batch, (real, imag), frames, bins].
    pub const BCTF: Layout = Layout([Axis::Batch, Axis::Channel, Axis::Time, Axis::Freq]);

    /// Parses four letters, each of B, C, T, F once (case-insensitive), e.g. "BCTF".
    pub fn parse(text: &str) -> Option<Layout> {
        let letters: Vec<char> = text.chars().map(|c| c.to_ascii_uppercase()).collect();
        if letters.len() != 4 {
            return None;
        }
        let mut axes = [Axis::Batch; 4];
        for (slot, c) in axes.iter_mut().zip(&letters) {
            *slot = match c {
                'B' => Axis::Batch,
                'C' => Axis::Channel,
                'T' => Axis::Time,
                'F' => Axis::Freq,
                _ => return None,
            };
        }
        let all = [Axis::Batch, Axis::Channel, Axis::Time, Axis::Freq];
        all.iter().all(|a| axes.contains(a)).then_some(Layout(axes))
    }

    pub fn letters(&self) -> String {
        self.0
            .iter()
            .map(|a| match a {
                Axis::Batch => 'B',
                Axis::Channel => 'C',
                Axis::Time => 'T',
                Axis::Freq => 'F',
            })
            .collect()
    }

    fn size(axis: Axis, channels: i64, frames: i64, bins: i64) -> i64 {
        match axis {
            Axis::Batch => 1,
            Axis::Channel => channels,
            Axis::Time => frames,
            Axis::Freq => bins,
        }
    }

    /// The tensor shape for the given sizes (-1 stands for "any").
    pub fn shape(&self, channels: i64, frames: i64, bins: i64) -> Vec<i64> {
        self.0.iter().map(|&a| Self::size(a, channels, frames, bins)).collect()
    }

    /// Row-major strides of the (channel, time, freq) axes; the batch index is always 0.
    fn strides(&self, channels: usize, frames: usize, bins: usize) -> [usize; 3] {
        let mut strides = [0usize; 3];
        let mut step = 1usize;
        for &axis in self.0.iter().rev() {
            let (slot, size) = match axis {
                Axis::Batch => (None, 1),
                Axis::Channel => (Some(0), channels),
                Axis::Time => (Some(1), frames),
                Axis::Freq => (Some(2), bins),
            };
            if let Some(s) = slot {
                strides[s] = step;
            }
            step *= size;
        }
        strides
    }
}

/// Where the complex spectrum goes in or comes out: one tensor holding (real, imag) on its C axis, or two
/// tensors with C = 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Port {
    Complex(String),
    Split { real: String, imag: String },
}

impl Port {
    fn names(&self) -> Vec<&str> {
        match self {
            Port::Complex(n) => vec![n],
            Port::Split { real, imag } => vec![real, imag],
        }
    }

    fn channels(&self) -> i64 {
        match self {
            Port::Complex(_) => 2,
            Port::Split { .. } => 1,
        }
    }
}

/// How the waveform is scaled before the model and unscaled after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalization {
    #[default]
    None,
    /// CMGAN's: x·c with c = sqrt(N / Σx²) (unit RMS), output divided by c. Silent input keeps c = 1.
    Rms,
}

/// How the waveform is lengthened before the STFT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HopPadding {
    #[default]
    None,
    /// CMGAN's: append the start of the signal until the length is a multiple of the hop, trim after.
    Wrap,
}

/// Everything about a spectrum→spectrum model except its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralContract {
    pub stft: StftConfig,
    pub layout: Layout,
    pub input: Port,
    pub output: Port,
    /// Magnitude exponent p: the model sees |X|^p·e^{jφ} and its output is raised back by 1/p.
    pub compression: Option<f32>,
    pub normalization: Normalization,
    pub hop_padding: HopPadding,
}

impl SpectralContract {
    pub fn describe(&self) -> String {
        let port = |p: &Port| match p {
            Port::Complex(n) => n.clone(),
            Port::Split { real, imag } => format!("{real}+{imag}"),
        };
        format!(
            "{};layout={};in={};out={};compression={};norm={:?};hop_pad={:?}",
            describe_stft(&self.stft),
            self.layout.letters(),
            port(&self.input),
            port(&self.output),
            self.compression.map_or("none".into(), |p| p.to_string()),
            self.normalization,
            self.hop_padding
        )
    }

    /// Checks the model's declared inputs and outputs against this contract. `what` names the contract in
    /// messages ("the CMGAN generator contract", "model card x.json").
    pub fn validate(&self, model: &OnnxModel, what: &str) -> Result<()> {
        let bins = (self.stft.n_fft / 2 + 1) as i64;
        let expected_in: Vec<TensorSpec> = self.input.names().iter().map(|n| self.spec(n, self.input.channels(), bins)).collect();
        let expected_out: Vec<TensorSpec> = self.output.names().iter().map(|n| self.spec(n, self.output.channels(), bins)).collect();
        let time_axis = self.layout.0.iter().position(|&a| a == Axis::Time).expect("a layout has every axis");
        check_interface(model, what, &expected_in, &expected_out, &[time_axis])
    }

    fn spec(&self, name: &str, channels: i64, bins: i64) -> TensorSpec {
        TensorSpec { name: name.to_string(), element_type: "float32".into(), shape: self.layout.shape(channels, -1, bins) }
    }
}

/// Compares a model's declared interface with the expected tensors. Inputs must match exactly by name (every
/// model input must be fed); outputs must exist (extra outputs are ignored). A declared size must equal the
/// expected one or be dynamic (-1); an axis listed in `dynamic` (by position) must be dynamic in the inputs,
/// since the number of frames or samples changes with every utterance.
pub(crate) fn check_interface(model: &OnnxModel, what: &str, expected_in: &[TensorSpec], expected_out: &[TensorSpec], dynamic: &[usize]) -> Result<()> {
    let list = |specs: &[TensorSpec]| specs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let mismatch = |fix: String| Error::ModelContract {
        path: model.path().to_path_buf(),
        contract: what.to_string(),
        expected: format!("inputs [{}] and outputs including [{}]", list(expected_in), list(expected_out)),
        found: format!("inputs [{}] and outputs [{}]", list(&model.inputs), list(&model.outputs)),
        fix,
    };
    let fits = |want: &TensorSpec, got: &TensorSpec| {
        got.element_type == "float32" && got.shape.len() == want.shape.len() && want.shape.iter().zip(&got.shape).all(|(&w, &g)| g < 0 || w < 0 || g == w)
    };
    for want in expected_in {
        let Some(got) = model.inputs.iter().find(|s| s.name == want.name) else {
            return Err(mismatch(format!("The model has no input named {:?}; fix the input name or use a model exported with it.", want.name)));
        };
        if !fits(want, got) {
            return Err(mismatch(format!("Input {:?} must be float32 with shape {:?} (-1 = any size).", want.name, want.shape)));
        }
        if let Some(&axis) = dynamic.iter().find(|&&a| got.shape.get(a).is_some_and(|&d| d >= 0)) {
            return Err(mismatch(format!(
                "Input {:?} has a fixed size {} on axis {axis}, which must follow the utterance's length; export the model with that axis dynamic.",
                want.name, got.shape[axis]
            )));
        }
    }
    if let Some(extra) = model.inputs.iter().find(|s| !expected_in.iter().any(|w| w.name == s.name)) {
        return Err(mismatch(format!("The model also needs input {:?}, which this contract does not provide.", extra.name)));
    }
    for want in expected_out {
        let Some(got) = model.outputs.iter().find(|s| s.name == want.name) else {
            return Err(mismatch(format!("The model has no output named {:?}.", want.name)));
        };
        if !fits(want, got) {
            return Err(mismatch(format!("Output {:?} must be float32 with shape {:?} (-1 = any size).", want.name, want.shape)));
        }
    }
    Ok(())
}

/// A spectrum→spectrum ONNX model wrapped as an [`Enhancer`].
pub struct SpectralModel {
    name: String,
    model: OnnxModel,
    contract: SpectralContract,
    framing: Framing,
    sha256: String,
}

impl SpectralModel {
    /// Loads the model and checks it against `contract`; `what` names the contract in error messages.
    pub fn load(name: &str, path: &Path, contract: SpectralContract, options: SessionOptions, what: &str) -> Result<Self> {
        let model = OnnxModel::load(path, options)?;
        Self::from_model(name, model, contract, what)
    }

    pub(crate) fn from_model(name: &str, model: OnnxModel, contract: SpectralContract, what: &str) -> Result<Self> {
        if let Some(p) = contract.compression
            && !(p.is_finite() && p > 0.0)
        {
            return Err(Error::invalid("compression exponent", "a finite number above 0 (CMGAN: 0.3)", p, "Fix the exponent or leave compression out."));
        }
        contract.validate(&model, what)?;
        let sha256 = file_sha256(model.path())?;
        let framing = Framing::new(contract.stft.clone())?;
        Ok(SpectralModel { name: name.to_string(), model, contract, framing, sha256 })
    }

    pub fn contract(&self) -> &SpectralContract {
        &self.contract
    }

    fn pack(&self, spec: &Spectrogram) -> Vec<Vec<f32>> {
        let (frames, bins) = (spec.frames, spec.bins);
        let channels = self.contract.input.channels() as usize;
        let strides = self.contract.layout.strides(channels, frames, bins);
        let count = self.contract.input.names().len();
        let mut tensors = vec![vec![0.0f32; channels * frames * bins]; count];
        for t in 0..frames {
            for f in 0..bins {
                let i = (t * bins + f) * 2;
                for part in 0..2 {
                    // Complex: one tensor, part on the C axis. Split: tensor `part`, C index 0.
                    let (tensor, c) = if channels == 2 { (0, part) } else { (part, 0) };
                    tensors[tensor][c * strides[0] + t * strides[1] + f * strides[2]] = spec.data[i + part];
                }
            }
        }
        tensors
    }

    fn unpack(&self, fetched: &[Fetched], frames: usize, bins: usize) -> Result<Spectrogram> {
        let channels = self.contract.output.channels();
        let want = self.contract.layout.shape(channels, frames as i64, bins as i64);
        let mut parts: Vec<&Fetched> = Vec::new();
        for name in self.contract.output.names() {
            let out = fetched.iter().find(|o| o.name == name).expect("validated: the output exists");
            if out.shape != want {
                return Err(Error::ModelOutput {
                    path: self.model.path().to_path_buf(),
                    expected: format!("{name} with shape {want:?} (layout {}, {frames} frames)", self.contract.layout.letters()),
                    found: format!("shape {:?}", out.shape),
                    fix: "The output must keep the input's frames and bins; check the layout in the contract.".into(),
                });
            }
            if let Some(i) = out.data.iter().position(|v| !v.is_finite()) {
                return Err(Error::ModelOutput {
                    path: self.model.path().to_path_buf(),
                    expected: format!("finite values in {name}"),
                    found: format!("{} at index {i}", out.data[i]),
                    fix: "The model produced NaN or infinity; check the export and the input level (normalisation).".into(),
                });
            }
            parts.push(out);
        }
        let strides = self.contract.layout.strides(channels as usize, frames, bins);
        let mut data = vec![0.0f32; frames * bins * 2];
        for t in 0..frames {
            for f in 0..bins {
                for part in 0..2 {
                    let (tensor, c) = if channels == 2 { (0, part) } else { (part, 0) };
                    data[(t * bins + f) * 2 + part] = parts[tensor].data[c * strides[0] + t * strides[1] + f * strides[2]];
                }
            }
        }
        Ok(Spectrogram { frames, bins, data })
    }
}

/// Raises each bin's magnitude to `exponent`, keeping its phase: X ↦ |X|^p·e^{j∠X}. A zero bin stays zero.
pub(crate) fn compress_magnitude(spec: &mut Spectrogram, exponent: f32) {
    for pair in spec.data.chunks_exact_mut(2) {
        let mag = (pair[0] * pair[0] + pair[1] * pair[1]).sqrt();
        if mag > 0.0 {
            let scale = mag.powf(exponent - 1.0);
            pair[0] *= scale;
            pair[1] *= scale;
        }
    }
}

/// The scale c = sqrt(N / Σx²) that gives unit RMS (CMGAN); 1 for silence, which has no level to normalise.
pub(crate) fn rms_scale(x: &[f32]) -> f64 {
    let energy: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
    if energy > 0.0 { (x.len() as f64 / energy).sqrt() } else { 1.0 }
}

impl Enhancer for SpectralModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn enhance(&mut self, noisy: &[f32]) -> Result<Vec<f32>> {
        check_noisy(noisy)?;
        let n = noisy.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let scale = match self.contract.normalization {
            Normalization::None => 1.0,
            Normalization::Rms => rms_scale(noisy),
        };
        let mut x: Vec<f32> = noisy.iter().map(|&v| (v as f64 * scale) as f32).collect();
        if self.contract.hop_padding == HopPadding::Wrap {
            let hop = self.contract.stft.hop_length;
            let padded = n.div_ceil(hop) * hop;
            // CMGAN appends x[..padded − n]; an input shorter than that gap is repeated as often as needed.
            for i in 0..padded - n {
                x.push(x[i % n]);
            }
        }
        let mut spec = self.framing.analyse(&x)?;
        if let Some(p) = self.contract.compression {
            compress_magnitude(&mut spec, p);
        }
        let (frames, bins) = (spec.frames, spec.bins);
        let tensors = self.pack(&spec);
        let shape = self.contract.layout.shape(self.contract.input.channels(), frames as i64, bins as i64);
        let names = self.contract.input.names();
        let feeds: Vec<Feed<'_>> = names.iter().zip(&tensors).map(|(name, data)| Feed { name, shape: &shape, data }).collect();
        let fetched = self.model.run(&feeds)?;
        let mut out = self.unpack(&fetched, frames, bins)?;
        if let Some(p) = self.contract.compression {
            compress_magnitude(&mut out, 1.0 / p);
        }
        let y = self.framing.synthesise(&out, x.len())?;
        Ok(y[..n].iter().map(|&v| (v as f64 / scale) as f32).collect())
    }

    fn fingerprint(&self) -> String {
        format!("{};spectral-v{PROCESSING_VERSION};sha256={};{}", self.name, self.sha256, self.contract.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_parse_and_give_shapes_and_strides() {
        let l = Layout::parse("bftc").unwrap();
        assert_eq!(l.letters(), "BFTC");
        assert_eq!(l.shape(2, -1, 257), [1, 257, -1, 2]);
        // [1, F=3, T=4, C=2]: C is innermost, then T, then F.
        assert_eq!(l.strides(2, 4, 3), [1, 2, 8]);
        assert_eq!(Layout::BCTF.strides(2, 4, 3), [12, 3, 1]);
        assert!(Layout::parse("BCTT").is_none());
        assert!(Layout::parse("BCT").is_none());
        assert!(Layout::parse("BCTX").is_none());
    }

    #[test]
    fn compression_round_trips_and_keeps_phase() {
        let mut s = Spectrogram { frames: 1, bins: 3, data: vec![3.0, 4.0, 0.0, 0.0, -0.5, 0.0] };
        compress_magnitude(&mut s, 0.3);
        let mag = (s.data[0] * s.data[0] + s.data[1] * s.data[1]).sqrt();
        assert!((mag - 5f32.powf(0.3)).abs() < 1e-6);
        assert!((s.data[1] / s.data[0] - 4.0 / 3.0).abs() < 1e-6, "phase kept");
        assert_eq!(&s.data[2..4], &[0.0, 0.0]);
        assert!((s.data[4] + 0.5f32.powf(0.3)).abs() < 1e-6, "negative real bin keeps its sign");
        compress_magnitude(&mut s, 1.0 / 0.3);
        let want = [3.0, 4.0, 0.0, 0.0, -0.5, 0.0];
        assert!(s.data.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5), "{:?}", s.data);
    }
}
