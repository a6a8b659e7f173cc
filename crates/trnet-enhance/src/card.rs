//! Model cards: a small JSON file next to an ONNX model that says how to run it as an enhancer, so that SE
//! models other than GTCRN and CMGAN can be plugged in without code.
//!
//! # Format
//!
//! ```json
//! {
//!   "name": "my-se",                 // optional; shown in messages and fingerprints (default: the file stem)
//!   "model": "my-se.onnx",           // required; relative to the card's folder, or absolute
//!   "kind": "spectrum",              // required; "waveform" or "spectrum"
//!   "sample_rate": 16000,            // required; must be 16000 (trnet runs at 16 kHz)
//!   "normalization": "rms",          // optional; "none" (default) or "rms": x·c, c = sqrt(N/Σx²), output ÷ c
//!
//!   // kind "waveform": input [1, N] → output [1, N], N dynamic
//!   "inputs":  { "audio": "noisy" },
//!   "outputs": { "audio": "enhanced" },
//!
//!   // kind "spectrum": complex STFT in, complex STFT out, same frames and bins
//!   "stft": { "n_fft": 400, "hop_length": 100,
//!             "win_length": 400,     // optional; default n_fft
//!             "window": "hamming",   // "hann" | "sqrt_hann" | "hamming" | "rectangular" (all periodic)
//!             "center": true,        // optional; default true (frames centred, torch.stft semantics)
//!             "pad_mode": "reflect"  // optional; "reflect" (default) or "constant"
//!           },
//!   "layout": "BCTF",                // axis order: B batch (1), C (real, imag), T frames, F bins (n_fft/2+1)
//!   "inputs":  { "spectrum": "x" },  // one tensor with C = 2 ... or { "real": "xr", "imag": "xi" }, C = 1 each
//!   "outputs": { "real": "yr", "imag": "yi" },     // ... or { "spectrum": "y" }
//!   "compression": 0.3,              // optional; magnitude exponent p: model sees |X|^p·e^{j∠X}, output ^(1/p)
//!   "hop_padding": "wrap"            // optional; "none" (default) or "wrap": append the signal's start up to
//!                                    // a multiple of the hop before the STFT (CMGAN does), trim after
//! }
//! ```
//! (JSON has no comments; they are here to explain.) Unknown fields are rejected, so a misspelt key is an
//! error rather than a silently ignored setting. In the model, the T axis (spectrum) or N axis (waveform)
//! must be dynamic; the batch axis may be 1 or dynamic. Every model input must be named in `inputs`; a model
//! whose declared inputs or outputs do not match the card is refused when the enhancer is built, with the
//! expected and the found names and shapes (`TRNET_MODEL_CONTRACT`).

use crate::enhancer::{Enhancer, check_noisy, file_sha256};
use crate::onnx::{Feed, OnnxModel, SessionOptions, TensorSpec};
use crate::spectral::{self, HopPadding, Layout, Normalization, Port, SpectralContract, SpectralModel, check_interface};
use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use trnet_dsp::stft::{PadMode, StftConfig, Window};

const PROCESSING_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Waveform,
    Spectrum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowName {
    Hann,
    SqrtHann,
    Hamming,
    Rectangular,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PadName {
    #[default]
    Reflect,
    Constant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NormalizationName {
    #[default]
    None,
    Rms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HopPaddingName {
    #[default]
    None,
    Wrap,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StftCard {
    pub n_fft: usize,
    pub hop_length: usize,
    pub win_length: Option<usize>,
    pub window: WindowName,
    #[serde(default = "yes")]
    pub center: bool,
    #[serde(default)]
    pub pad_mode: PadName,
}

/// Tensor names; which keys are allowed depends on the kind.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    pub audio: Option<String>,
    pub spectrum: Option<String>,
    pub real: Option<String>,
    pub imag: Option<String>,
}

/// A parsed model card (see the module documentation for the format).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    pub name: Option<String>,
    pub model: PathBuf,
    pub kind: Kind,
    pub sample_rate: u32,
    pub inputs: Ports,
    pub outputs: Ports,
    pub stft: Option<StftCard>,
    pub layout: Option<String>,
    pub compression: Option<f32>,
    #[serde(default)]
    pub normalization: NormalizationName,
    #[serde(default)]
    pub hop_padding: HopPaddingName,
}

/// A card checked in itself, with the model path resolved, ready to meet its model.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedCard {
    pub card_path: PathBuf,
    pub name: String,
    pub model: PathBuf,
    pub contract: Contract,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Contract {
    Waveform { input: String, output: String, normalization: Normalization },
    Spectrum(SpectralContract),
}

impl ModelCard {
    pub fn parse(text: &str, card_path: &Path) -> Result<ModelCard> {
        serde_json::from_str(text).map_err(|e| {
            Error::card(
                card_path,
                format!("not a valid model card: {e}"),
                "See the card format in trnet-enhance's card module (kind, model, sample_rate, inputs, outputs, ...).",
            )
        })
    }

    /// Reads and checks a card file; a relative `model` path is taken from the card's folder.
    pub fn read(card_path: impl AsRef<Path>) -> Result<ResolvedCard> {
        let card_path = card_path.as_ref();
        let text = std::fs::read_to_string(card_path)
            .map_err(|e| Error::card(card_path, format!("cannot read it: {e}"), "Check the path to the card (a .json file)."))?;
        Self::parse(&text, card_path)?.resolve(card_path)
    }

    /// Checks the card in itself (not yet against the model) and turns it into a contract.
    pub fn resolve(self, card_path: &Path) -> Result<ResolvedCard> {
        let bad = |problem: String, fix: &str| Error::card(card_path, problem, fix);
        if self.sample_rate != trnet_dsp::SAMPLE_RATE {
            return Err(bad(
                format!("sample_rate is {}, but trnet runs at 16000 Hz", self.sample_rate),
                "Use a model trained at 16 kHz, and set sample_rate to 16000.",
            ));
        }
        let base = card_path.parent().unwrap_or(Path::new("."));
        let model = if self.model.is_absolute() { self.model.clone() } else { base.join(&self.model) };
        let name =
            self.name.clone().unwrap_or_else(|| card_path.file_stem().map_or("card".into(), |s| s.to_string_lossy().trim_end_matches(".card").to_string()));
        let normalization = match self.normalization {
            NormalizationName::None => Normalization::None,
            NormalizationName::Rms => Normalization::Rms,
        };
        let contract = match self.kind {
            Kind::Waveform => {
                let spectrum_only = [
                    ("stft", self.stft.is_some()),
                    ("layout", self.layout.is_some()),
                    ("compression", self.compression.is_some()),
                    ("hop_padding", self.hop_padding != HopPaddingName::None),
                ];
                if let Some((key, _)) = spectrum_only.iter().find(|(_, set)| *set) {
                    return Err(bad(format!("\"{key}\" is set, but it applies to kind \"spectrum\" only"), "Remove it, or set kind to \"spectrum\"."));
                }
                let input = audio_port(&self.inputs, "inputs").map_err(|p| bad(p, "A waveform card names its tensors as {\"audio\": \"<tensor name>\"}."))?;
                let output =
                    audio_port(&self.outputs, "outputs").map_err(|p| bad(p, "A waveform card names its tensors as {\"audio\": \"<tensor name>\"}."))?;
                Contract::Waveform { input, output, normalization }
            }
            Kind::Spectrum => {
                let fix_ports = "A spectrum card names one tensor as {\"spectrum\": \"<name>\"} or two as {\"real\": \"<name>\", \"imag\": \"<name>\"}.";
                let input = spectrum_port(&self.inputs, "inputs").map_err(|p| bad(p, fix_ports))?;
                let output = spectrum_port(&self.outputs, "outputs").map_err(|p| bad(p, fix_ports))?;
                let stft = self.stft.as_ref().ok_or_else(|| {
                    bad("kind \"spectrum\" needs \"stft\"".into(), "Add {\"n_fft\", \"hop_length\", \"window\"} as the model was trained with.")
                })?;
                let layout_text = self
                    .layout
                    .as_deref()
                    .ok_or_else(|| bad("kind \"spectrum\" needs \"layout\"".into(), "Add e.g. \"layout\": \"BCTF\" (batch, real/imag, frames, bins)."))?;
                let layout = Layout::parse(layout_text).ok_or_else(|| {
                    bad(
                        format!("layout {layout_text:?} is not an order of the four axes B, C, T, F"),
                        "Use four letters, each of B, C, T, F once, e.g. \"BCTF\" or \"BFTC\".",
                    )
                })?;
                if let Some(p) = self.compression
                    && !(p.is_finite() && p > 0.0)
                {
                    return Err(bad(format!("compression is {p}"), "Use a magnitude exponent above 0 (CMGAN: 0.3), or leave compression out."));
                }
                let window = match stft.window {
                    WindowName::Hann => Window::Hann,
                    WindowName::SqrtHann => Window::SqrtHann,
                    WindowName::Hamming => Window::Hamming,
                    WindowName::Rectangular => Window::Rectangular,
                };
                let config = StftConfig {
                    n_fft: stft.n_fft,
                    hop_length: stft.hop_length,
                    win_length: stft.win_length.unwrap_or(stft.n_fft),
                    window,
                    center: stft.center,
                    pad_mode: match stft.pad_mode {
                        PadName::Reflect => PadMode::Reflect,
                        PadName::Constant => PadMode::Constant,
                    },
                };
                // Let the STFT check its own settings now, so the error names the card.
                trnet_dsp::stft::Stft::new(config.clone()).map_err(|e| bad(format!("invalid stft: {e}"), "Fix the stft settings."))?;
                Contract::Spectrum(SpectralContract {
                    stft: config,
                    layout,
                    input,
                    output,
                    compression: self.compression,
                    normalization,
                    hop_padding: match self.hop_padding {
                        HopPaddingName::None => HopPadding::None,
                        HopPaddingName::Wrap => HopPadding::Wrap,
                    },
                })
            }
        };
        Ok(ResolvedCard { card_path: card_path.to_path_buf(), name, model, contract })
    }
}

fn audio_port(ports: &Ports, which: &str) -> std::result::Result<String, String> {
    match ports {
        Ports { audio: Some(a), spectrum: None, real: None, imag: None } => Ok(a.clone()),
        _ => Err(format!("{which} of a waveform card must be exactly {{\"audio\": ...}}, found {}", describe_ports(ports))),
    }
}

fn spectrum_port(ports: &Ports, which: &str) -> std::result::Result<Port, String> {
    match ports {
        Ports { audio: None, spectrum: Some(s), real: None, imag: None } => Ok(Port::Complex(s.clone())),
        Ports { audio: None, spectrum: None, real: Some(r), imag: Some(i) } => Ok(Port::Split { real: r.clone(), imag: i.clone() }),
        _ => Err(format!("{which} of a spectrum card must be {{\"spectrum\": ...}} or {{\"real\": ..., \"imag\": ...}}, found {}", describe_ports(ports))),
    }
}

fn describe_ports(ports: &Ports) -> String {
    let keys: Vec<String> = [("audio", &ports.audio), ("spectrum", &ports.spectrum), ("real", &ports.real), ("imag", &ports.imag)]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v:?}")))
        .collect();
    format!("{{{}}}", keys.join(", "))
}

/// Builds the enhancer a card describes: loads its model and checks the model against the card.
pub fn load(card_path: impl AsRef<Path>, options: SessionOptions) -> Result<Box<dyn Enhancer>> {
    let card = ModelCard::read(card_path)?;
    let what = format!("model card {}", card.card_path.display());
    let model = OnnxModel::load(&card.model, options)?;
    Ok(match card.contract {
        Contract::Spectrum(contract) => Box::new(SpectralModel::from_model(&card.name, model, contract, &what)?),
        Contract::Waveform { input, output, normalization } => Box::new(WaveformModel::from_model(&card.name, model, input, output, normalization, &what)?),
    })
}

/// A waveform→waveform ONNX model: [1, N] in, [1, N] out.
pub struct WaveformModel {
    name: String,
    model: OnnxModel,
    input: String,
    output: String,
    normalization: Normalization,
    sha256: String,
}

impl WaveformModel {
    fn from_model(name: &str, model: OnnxModel, input: String, output: String, normalization: Normalization, what: &str) -> Result<Self> {
        let spec = |name: &str| TensorSpec { name: name.to_string(), element_type: "float32".into(), shape: vec![1, -1] };
        check_interface(&model, what, &[spec(&input)], &[spec(&output)], &[1])?;
        let sha256 = file_sha256(model.path())?;
        Ok(WaveformModel { name: name.to_string(), model, input, output, normalization, sha256 })
    }
}

impl Enhancer for WaveformModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn enhance(&mut self, noisy: &[f32]) -> Result<Vec<f32>> {
        check_noisy(noisy)?;
        let n = noisy.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let scale = match self.normalization {
            Normalization::None => 1.0,
            Normalization::Rms => spectral::rms_scale(noisy),
        };
        let x: Vec<f32> = noisy.iter().map(|&v| (v as f64 * scale) as f32).collect();
        let shape = [1, n as i64];
        let fetched = self.model.run(&[Feed { name: &self.input, shape: &shape, data: &x }])?;
        let out = fetched.iter().find(|o| o.name == self.output).expect("validated: the output exists");
        if out.shape != shape || out.data.iter().any(|v| !v.is_finite()) {
            return Err(Error::ModelOutput {
                path: self.model.path().to_path_buf(),
                expected: format!("{} with shape {shape:?} and finite values", self.output),
                found: format!("shape {:?}, finite: {}", out.shape, out.data.iter().all(|v| v.is_finite())),
                fix: "A waveform model must return as many samples as it was given, sample-aligned.".into(),
            });
        }
        Ok(out.data.iter().map(|&v| (v as f64 / scale) as f32).collect())
    }

    fn fingerprint(&self) -> String {
        format!("{};waveform-v{PROCESSING_VERSION};sha256={};in={};out={};norm={:?}", self.name, self.sha256, self.input, self.output, self.normalization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(json: &str) -> Result<ResolvedCard> {
        let path = Path::new("/cards/x.card.json");
        ModelCard::parse(json, path)?.resolve(path)
    }

    #[test]
    fn a_spectrum_card_resolves_to_a_contract() {
        let card = resolve(
            r#"{"model": "m.onnx", "kind": "spectrum", "sample_rate": 16000,
                "stft": {"n_fft": 400, "hop_length": 100, "window": "hamming"}, "layout": "BCTF",
                "inputs": {"spectrum": "x"}, "outputs": {"real": "yr", "imag": "yi"},
                "compression": 0.3, "normalization": "rms", "hop_padding": "wrap"}"#,
        )
        .unwrap();
        assert_eq!(card.model, Path::new("/cards/m.onnx"));
        assert_eq!(card.name, "x");
        let Contract::Spectrum(c) = card.contract else { panic!("spectrum") };
        assert_eq!(c, crate::cmgan::contract("x", Port::Split { real: "yr".into(), imag: "yi".into() }));
    }

    #[test]
    fn card_mistakes_are_named() {
        let cases = [
            (
                r#"{"model": "m.onnx", "kind": "waveform", "sample_rate": 16000, "inputs": {"audio": "a"}, "outputs": {"audio": "b"}, "hop": 1}"#,
                "unknown field `hop`",
            ),
            (r#"{"model": "m.onnx", "kind": "waveform", "sample_rate": 8000, "inputs": {"audio": "a"}, "outputs": {"audio": "b"}}"#, "sample_rate is 8000"),
            (
                r#"{"model": "m.onnx", "kind": "waveform", "sample_rate": 16000, "inputs": {"spectrum": "a"}, "outputs": {"audio": "b"}}"#,
                "exactly {\"audio\": ...}",
            ),
            (
                r#"{"model": "m.onnx", "kind": "waveform", "sample_rate": 16000, "inputs": {"audio": "a"}, "outputs": {"audio": "b"}, "layout": "BCTF"}"#,
                "\"layout\" is set",
            ),
            (
                r#"{"model": "m.onnx", "kind": "spectrum", "sample_rate": 16000, "inputs": {"spectrum": "a"}, "outputs": {"spectrum": "b"}, "layout": "BCTF"}"#,
                "needs \"stft\"",
            ),
            (
                r#"{"model": "m.onnx", "kind": "spectrum", "sample_rate": 16000, "inputs": {"spectrum": "a"}, "outputs": {"real": "b"},
                   "layout": "BCTF", "stft": {"n_fft": 512, "hop_length": 256, "window": "hann"}}"#,
                "found {real: \"b\"}",
            ),
            (
                r#"{"model": "m.onnx", "kind": "spectrum", "sample_rate": 16000, "inputs": {"spectrum": "a"}, "outputs": {"spectrum": "b"},
                   "layout": "BCTX", "stft": {"n_fft": 512, "hop_length": 256, "window": "hann"}}"#,
                "not an order of the four axes",
            ),
            (
                r#"{"model": "m.onnx", "kind": "spectrum", "sample_rate": 16000, "inputs": {"spectrum": "a"}, "outputs": {"spectrum": "b"},
                   "layout": "BCTF", "stft": {"n_fft": 512, "hop_length": 0, "window": "hann"}}"#,
                "invalid stft",
            ),
            (r#"{"kind": "waveform"}"#, "missing field"),
        ];
        for (json, want) in cases {
            let err = resolve(json).unwrap_err();
            assert_eq!(err.code(), "TRNET_CARD_INVALID", "{json}");
            assert!(err.to_string().contains(want), "{want:?} not in: {err}");
        }
    }
}
