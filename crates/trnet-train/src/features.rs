//! Datasets computed from audio files: clean speech, noise mixed in at seeded SNRs, an enhancer, and the
//! paper's features (80-bin Kaldi log-Mel, fixed to N frames). Meant for tests and small experiments; the
//! addon computes and caches features itself and hands them over as arrays.
//!
//! # Noise and SNR rule
//!
//! Noise is drawn once per noisy copy, when the dataset is built (the paper's IEM-ESC is a fixed corpus,
//! not re-mixed every epoch). Copy j of utterance i (i = its index in the list) draws from
//! `SplitMix64(seed::derive(seed, NOISE, i·1024 + j))`, in this order: the SNR index (uniform over
//! `snrs_db`, only with `NoisyCopies::OnePerUtterance`; with `OnePerSnr` copy j takes `snrs_db[j]`), the
//! noise clip index (uniform over `noises`), then the seed of `mix_at_snr` (the excerpt offset). The draws
//! depend on nothing else, so they do not change with thread count or with other utterances in the list.
//!
//! Items come out in utterance order; per utterance the clean item first (if `include_clean`), then the
//! noisy copies in j order. Noisy items share the clean spectrogram as their Xs. Xe is the enhancer's
//! output for the item's own audio (clean items included: TRNet runs SE on every input).

use crate::dataset::{fix_frames, Dataset, Item};
use crate::seed;
use crate::{Error, Result};
use std::path::PathBuf;
use trnet_dsp::batch::{par_map_init, BatchControl};
use trnet_dsp::fbank::{Fbank, FbankOptions};
use trnet_dsp::frames::PadMode;
use trnet_dsp::mix::mix_at_snr;
use trnet_dsp::rng::SplitMix64;
use trnet_dsp::SAMPLE_RATE;

#[derive(Debug, Clone)]
pub struct Utterance {
    pub path: PathBuf,
    pub label: usize,
    pub speaker: String,
    /// Name in reports; empty takes the file stem.
    pub id: String,
}

#[derive(Debug, Clone)]
pub struct NoiseClip {
    pub name: String,
    /// Mono samples at 16 kHz.
    pub samples: Vec<f32>,
}

/// How many noisy versions of each utterance to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoisyCopies {
    None,
    /// One copy at an SNR drawn from `snrs_db` (the authors' training recipe).
    OnePerUtterance,
    /// One copy at every SNR of `snrs_db` (the paper's test sets: each utterance at 20…0 dB).
    OnePerSnr,
}

#[derive(Debug, Clone)]
pub struct AudioDatasetSpec {
    /// Frames per item (paper: 500).
    pub frames: usize,
    pub pad: PadMode,
    pub fbank: FbankOptions,
    /// Add each utterance's clean version as an item.
    pub include_clean: bool,
    pub noisy: NoisyCopies,
    /// Paper: 20, 15, 10, 5, 0 dB.
    pub snrs_db: Vec<f64>,
    pub seed: u64,
}

impl Default for AudioDatasetSpec {
    fn default() -> Self {
        AudioDatasetSpec {
            frames: 500,
            pad: PadMode::Zero,
            fbank: FbankOptions::paper(),
            include_clean: true,
            noisy: NoisyCopies::OnePerUtterance,
            snrs_db: vec![20.0, 15.0, 10.0, 5.0, 0.0],
            seed: 0,
        }
    }
}

/// Decodes noise files to 16 kHz mono clips named by file stem.
pub fn load_noises(paths: &[PathBuf]) -> Result<Vec<NoiseClip>> {
    paths
        .iter()
        .map(|p| {
            let samples = trnet_dsp::audio::load_file(p, SAMPLE_RATE)?;
            let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(NoiseClip { name, samples })
        })
        .collect()
}

/// The enhancer: a frozen SE front end over 16 kHz mono samples (identity is allowed).
pub type Enhancer<'a> = &'a (dyn Fn(&[f32]) -> Vec<f32> + Sync);

/// Builds a dataset from `utterances` as described in the module docs. `control` reports per utterance and
/// can cancel (→ `Error::Cancelled`).
pub fn dataset_from_audio(utterances: &[Utterance], noises: &[NoiseClip], spec: &AudioDatasetSpec, enhancer: Enhancer<'_>, control: &BatchControl<'_>) -> Result<Dataset> {
    let bins = spec.fbank.num_mel_bins + usize::from(spec.fbank.use_energy);
    let mut ds = Dataset::new(spec.frames, bins)?;
    if spec.noisy != NoisyCopies::None {
        if noises.is_empty() || spec.snrs_db.is_empty() {
            return Err(Error::invalid("noise for noisy copies", "at least one noise clip and one SNR", format!("{} clips, {} SNRs", noises.len(), spec.snrs_db.len()), "Pass noise clips and SNRs, or use NoisyCopies::None."));
        }
        if spec.snrs_db.len() > 1024 {
            return Err(Error::invalid("SNR list", "at most 1024 SNRs", spec.snrs_db.len(), "Use fewer SNRs."));
        }
    }
    if !spec.include_clean && spec.noisy == NoisyCopies::None {
        return Err(Error::invalid("dataset spec", "clean items, noisy copies or both", "neither", "Set include_clean or choose noisy copies."));
    }
    let indexed: Vec<(usize, &Utterance)> = utterances.iter().enumerate().collect();
    let results = par_map_init(
        &indexed,
        || Fbank::new(spec.fbank.clone()),
        |fbank, &(i, utt)| -> Result<Vec<Item>> {
            let fbank = fbank.as_mut().map_err(|e| Error::invalid("fbank options", "valid options", e.to_string(), "Fix the fbank options."))?;
            utterance_items(i, utt, noises, spec, enhancer, fbank)
        },
        control,
    );
    for r in results {
        for item in r.ok_or(Error::Cancelled { checkpoint: None })?? {
            ds.push(item)?;
        }
    }
    Ok(ds)
}

fn utterance_items(i: usize, utt: &Utterance, noises: &[NoiseClip], spec: &AudioDatasetSpec, enhancer: Enhancer<'_>, fbank: &mut Fbank) -> Result<Vec<Item>> {
    let clean = trnet_dsp::audio::load_file(&utt.path, SAMPLE_RATE)?;
    let mut features = |wave: &[f32]| -> Result<(crate::dataset::Features, usize)> {
        let f = fbank.compute(wave)?;
        fix_frames(&f.data, f.bins, spec.frames, spec.pad)
    };
    let id = if utt.id.is_empty() { utt.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default() } else { utt.id.clone() };
    let (xs, valid) = features(&clean)?;
    let mut items = Vec::new();
    if spec.include_clean {
        let (xe, _) = features(&enhancer(&clean))?;
        items.push(Item::clean(xs.clone(), utt.label).enhanced(xe).valid_frames(valid).speaker(&utt.speaker).id(&id));
    }
    let copies: Vec<(usize, Option<f64>)> = match spec.noisy {
        NoisyCopies::None => Vec::new(),
        NoisyCopies::OnePerUtterance => vec![(0, None)],
        NoisyCopies::OnePerSnr => spec.snrs_db.iter().enumerate().map(|(j, &s)| (j, Some(s))).collect(),
    };
    for (j, fixed_snr) in copies {
        let mut rng = SplitMix64::new(seed::derive(spec.seed, seed::NOISE, (i as u64) * 1024 + j as u64));
        let snr = fixed_snr.unwrap_or_else(|| spec.snrs_db[rng.below(spec.snrs_db.len() as u64) as usize]);
        let noise = &noises[rng.below(noises.len() as u64) as usize];
        let mix = mix_at_snr(&clean, &noise.samples, snr, rng.next_u64())?;
        let (x, valid) = features(&mix.noisy)?;
        let (xe, _) = features(&enhancer(&mix.noisy))?;
        let item = Item::noisy(x, Some(xs.clone()), utt.label, Some(snr), Some(noise.name.clone())).enhanced(xe).valid_frames(valid).speaker(&utt.speaker).id(format!("{id}@{}:{snr}dB", noise.name));
        items.push(item);
    }
    Ok(items)
}
