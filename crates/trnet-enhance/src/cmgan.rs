//! CMGAN (Cao, Abdulatif & Yang, Interspeech 2022) run from a user-supplied ONNX export of its generator,
//! with the pre/post-processing of CMGAN's published evaluation code:
//!
//! 1. RMS normalisation: c = sqrt(N / Σx²), x ← x·c;
//! 2. the signal lengthened to a multiple of the hop by appending its own start (then trimmed at the end);
//! 3. STFT: n_fft 400, hop 100, periodic Hamming window of 400, centred with reflect padding → 201 bins;
//! 4. power-law compression: |X|^0.3·e^{j∠X};
//! 5. the generator on the whole utterance;
//! 6. decompression |Y|^(1/0.3), inverse STFT with the same settings, divided by c.
//!
//! Model contract (what an export must look like; names are free, they are read from the model):
//! - one float32 input [B, 2, T, 201]: batch, (compressed real, compressed imag), frames, bins; B = 1 or
//!   dynamic, T dynamic;
//! - outputs either two float32 tensors [B, 1, T, 201] (real, then imaginary: the generator's
//!   `(final_real, final_imag)` in that order), or one [B, 2, T, 201] with (real, imag) on axis 1. Further
//!   outputs after these are ignored.
//!
//! Departure from the reference: CMGAN's script cuts utterances longer than 16 s into a batch of chunks to
//! bound GPU memory; here the whole utterance always goes through in one piece.

use crate::onnx::{OnnxModel, SessionOptions};
use crate::spectral::{HopPadding, Layout, Normalization, Port, SpectralContract, SpectralModel};
use crate::{Error, Result};
use std::path::Path;
use trnet_dsp::stft::StftConfig;

pub const COMPRESSION: f32 = 0.3;
const CONTRACT: &str = "the CMGAN generator contract (input [1, 2, T, 201]; outputs real and imag [1, 1, T, 201], or one [1, 2, T, 201])";

/// The CMGAN contract for a model whose tensors are called `input`, and `output` (real, imag).
pub fn contract(input: &str, output: Port) -> SpectralContract {
    SpectralContract {
        stft: StftConfig::cmgan(),
        layout: Layout::BCTF,
        input: Port::Complex(input.to_string()),
        output,
        compression: Some(COMPRESSION),
        normalization: Normalization::Rms,
        hop_padding: HopPadding::Wrap,
    }
}

/// Loads a CMGAN generator export and wraps it as an enhancer named "cmgan".
pub fn load(path: impl AsRef<Path>, options: SessionOptions) -> Result<SpectralModel> {
    let model = OnnxModel::load(path.as_ref(), options)?;
    let contract = detect(&model)?;
    SpectralModel::from_model("cmgan", model, contract, CONTRACT)
}

/// Reads the tensor names from the model: its one input, and its first one or two outputs.
fn detect(model: &OnnxModel) -> Result<SpectralContract> {
    let input = match model.inputs.as_slice() {
        [only] => only.name.clone(),
        _ => {
            return Err(Error::ModelContract {
                path: model.path().to_path_buf(),
                contract: CONTRACT.into(),
                expected: "exactly one input".into(),
                found: format!("{} inputs: {}", model.inputs.len(), model.inputs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
                fix: "Export the generator alone, taking the compressed spectrum [B, 2, T, 201].".into(),
            });
        }
    };
    // Two outputs with one channel each are (real, imag); otherwise the first output holds both.
    // A dynamic channel axis counts as one channel when a second output is there to hold the other part.
    let two = model.outputs.len() >= 2;
    let one_channel = |i: usize| model.outputs.get(i).is_some_and(|o| o.shape.len() == 4 && (o.shape[1] == 1 || (o.shape[1] < 0 && two)));
    let output = if one_channel(0) && one_channel(1) {
        Port::Split { real: model.outputs[0].name.clone(), imag: model.outputs[1].name.clone() }
    } else {
        Port::Complex(model.outputs.first().map(|o| o.name.clone()).unwrap_or_default())
    };
    Ok(contract(&input, output))
}
