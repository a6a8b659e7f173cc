//! Datasets computed from audio files: clean speech, noise mixed in at seeded SNRs, an enhancer, and the
//! paper's features (80-bin Kaldi log-Mel, fixed to N frames), in memory or in a feature store. The addon's
//! `buildFeatureSet` runs these.
//!
//! # Noise and SNR rule
//!
//! Noise is drawn once per noisy copy, when the dataset is built (the paper's IEM-ESC is a fixed corpus,
//! not re-mixed every epoch). Copy j of utterance i (i = its index in the list) draws from
//! `SplitMix64(seed::derive(seed, NOISE, i·1024 + j))`, in this order: the SNR index (uniform over
//! `snrs_db`, only with `NoisyCopies::OnePerUtterance`; with `OnePerSnr` copy j takes `snrs_db[j]`), the
//! noise clip index (uniform over `noises`), then the seed of `mix_at_snr` (the excerpt offset). The draws
//! depend on nothing else, so they do not change with thread count or with other utterances in the list.
//! An utterance longer than its `frames` need is cut to the samples they use first (`samples_kept`), so its
//! SNR is measured over the part the features keep, and a two-hour file costs what 5 s cost.
//!
//! Items come out in utterance order; per utterance the clean item first (if `include_clean`), then the
//! noisy copies in j order. Noisy items share the clean spectrogram as their Xs. Xe is the enhancer's
//! output for the item's own audio (clean items included: TRNet runs SE on every input).
//!
//! # Feature stores
//!
//! `stored_dataset_from_audio` builds the same dataset into a feature store (see `store`) under a root
//! folder, in a subfolder named by a key: SHA-256 over a JSON document (options as their serialised values)
//! of everything that determines the features — the pipeline and store format versions, frames, padding,
//! fbank options, clean/noisy copies, SNRs, seed, the enhancer's fingerprint, and every utterance (absolute
//! path, size, modification time, label, speaker, id) and noise file (absolute path, size, modification
//! time) in order. A second call with the same inputs finds the store and opens it (after checking every
//! record's checksum: a damaged store is rebuilt) without decoding, mixing, enhancing or computing anything;
//! a changed input is another key, so it misses and builds a new store beside the old one.
//!
//! Files are identified by path, size and modification time rather than by a hash of their content: a hit
//! then costs one `stat` per file instead of reading the whole corpus (gigabytes for IEMOCAP), and any
//! ordinary rewrite of a file changes its mtime. The cost: an edit that keeps both size and mtime (e.g.
//! `touch -r`) goes unnoticed, and copying a corpus elsewhere misses once. Delete the store to force a
//! rebuild.
//!
//! Records are written as utterances finish, from the worker threads: utterance i owns the records
//! `i·R … i·R + R − 1`, where R is the number of distinct spectrograms an utterance yields (its clean X,
//! the clean item's Xe, and X and Xe per noisy copy), so the file's layout does not depend on thread timing.

use crate::dataset::{Dataset, Item, fix_frames};
use crate::error::EnhanceFailure;
use crate::seed;
use crate::store::{self, StoreWriter, StoredItem};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use trnet_dsp::SAMPLE_RATE;
use trnet_dsp::batch::{BatchControl, par_map_init};
use trnet_dsp::fbank::{Fbank, FbankOptions};
use trnet_dsp::frames::PadMode;
use trnet_dsp::mix::mix_at_snr;
use trnet_dsp::rng::SplitMix64;

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

/// How many noisy versions of each utterance to make. JSON names (store keys): "none", "one-per-utterance",
/// "one-per-snr".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    /// Multiplies the waveform just before the fbank (not before mixing or enhancement). 1 keeps samples in
    /// [-1, 1]; the authors' code computes the fbank on int16-scaled samples (32768), which adds 2·ln(32768) to
    /// every log-Mel value away from the floor and so changes the cosine similarity of the SNR-aware module.
    pub waveform_scale: f32,
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
            waveform_scale: 1.0,
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

/// The enhancer: a frozen SE front end over 16 kHz mono samples (identity is allowed), e.g.
/// `trnet_enhance::EnhancerPool::enhance`. When it fails on any item the whole build fails with
/// `Error::EnhanceFailed`, listing every failed item: a dataset never holds an Xe that is not the
/// enhancer's output.
pub type Enhancer<'a> = &'a (dyn Fn(&[f32]) -> trnet_enhance::Result<Vec<f32>> + Sync);

/// Builds a dataset from `utterances` as described in the module docs. `control` reports per utterance and
/// can cancel (→ `Error::Cancelled`). An enhancer failure on any item fails the call (`Error::EnhanceFailed`).
pub fn dataset_from_audio(
    utterances: &[Utterance],
    noises: &[NoiseClip],
    spec: &AudioDatasetSpec,
    enhancer: Enhancer<'_>,
    control: &BatchControl<'_>,
) -> Result<Dataset> {
    check_spec(spec, noises.len())?;
    let mut ds = Dataset::new(spec.frames, bins(spec))?;
    for items in map_utterances(utterances, noises, spec, enhancer, control, |_, items| Ok(items))? {
        for item in items {
            ds.push(item)?;
        }
    }
    Ok(ds)
}

/// Bump when decoding, mixing, fbank or frame fixing change their output, or when the key document changes
/// its form, so older stores miss. 2: options are hashed as their JSON values, no longer as `{:?}` text.
/// 3: utterances are cut to the samples their frames use before mixing (`samples_kept`), so the SNR of a
/// long utterance is measured over what the features keep.
pub const PIPELINE_VERSION: u32 = 3;

/// Where a dataset's features are kept on disk.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions<'a> {
    /// The folder holding stores, one subfolder per key.
    pub root: &'a Path,
    /// The enhancer's fingerprint (name, processing version, model hash, settings): part of the key.
    pub enhancer: &'a str,
}

#[derive(Debug)]
pub struct StoredDataset {
    /// Items that read their spectrograms from the store.
    pub dataset: Dataset,
    /// The store's folder (`root/key`), for `store::open` later.
    pub dir: PathBuf,
    /// True when an existing store was reused and nothing was computed.
    pub cached: bool,
}

/// `dataset_from_audio` through a feature store (module docs): opens the store of these inputs when it
/// exists and is intact, and otherwise decodes the noises, builds the store and opens it. A damaged store
/// is replaced. Progress counts utterances as they finish; a hit reports nothing. A build that fails (an
/// enhancer failure on any item included) publishes nothing: its temporary folder is removed.
pub fn stored_dataset_from_audio(
    utterances: &[Utterance],
    noise_files: &[PathBuf],
    spec: &AudioDatasetSpec,
    enhancer: Enhancer<'_>,
    options: &StoreOptions<'_>,
    control: &BatchControl<'_>,
) -> Result<StoredDataset> {
    check_spec(spec, noise_files.len())?;
    let (key, inputs) = store_key(utterances, noise_files, spec, options.enhancer)?;
    let dir = options.root.join(&key);
    if dir.exists() {
        // Every record is read and checked against its checksum before a hit is reported: a hit saves the
        // whole build (decoding, mixing, enhancement), so one sequential read of the file is cheap beside
        // it, and a store damaged since it was written is rebuilt here instead of failing a training later.
        match store::open_verified(&dir) {
            Ok((dataset, found)) if found == key => return Ok(StoredDataset { dataset, dir, cached: true }),
            // Damaged, or not this key's (copied over by hand): move it out of the way and build it again.
            // A process still reading the old files keeps reading them (they are unlinked, not overwritten);
            // at worst two processes that both found it damaged build it twice.
            _ => {
                let aside = trnet_dsp::files::temp_sibling(&dir, store::DAMAGED);
                if std::fs::rename(&dir, &aside).is_ok() {
                    let _ = std::fs::remove_dir_all(&aside);
                }
            }
        }
    }
    store::remove_abandoned(options.root);
    let noises = load_noises(noise_files)?;
    let per_utterance = records_per_utterance(spec);
    let writer = StoreWriter::create(&dir, spec.frames, bins(spec))?;
    let stored = map_utterances(utterances, &noises, spec, enhancer, control, |i, items| {
        let first = u32::try_from(i * per_utterance)
            .map_err(|_| Error::invalid("feature store size", "at most 2³² records", i * per_utterance, "Split the corpus into several stores."))?;
        let (stored, used) = writer.put_items(first, &items)?;
        if used as usize != per_utterance {
            return Err(Error::invalid("records of an utterance", per_utterance, used, "This is a bug in trnet-train."));
        }
        Ok(stored)
    })?;
    let items: Vec<StoredItem> = stored.into_iter().flatten().collect();
    let dir = writer.finish(&key, inputs, (utterances.len() * per_utterance) as u64, items)?;
    Ok(StoredDataset { dataset: store::open(&dir)?, dir, cached: false })
}

/// The store key of these inputs and the document it hashes (module docs).
pub fn store_key(utterances: &[Utterance], noise_files: &[PathBuf], spec: &AudioDatasetSpec, enhancer: &str) -> Result<(String, serde_json::Value)> {
    let identity = |path: &Path| -> Result<serde_json::Value> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            // The decoder's error says best what is wrong with a missing or unreadable file.
            Err(e) => {
                return Err(trnet_dsp::audio::load_file(path, SAMPLE_RATE)
                    .err()
                    .map_or_else(|| Error::io("reading the size and time of", path)(e), Error::from));
            }
        };
        let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64);
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(json!({ "path": absolute.to_string_lossy(), "bytes": meta.len(), "modifiedNs": modified }))
    };
    let utterances = utterances
        .iter()
        .map(|u| {
            let mut v = identity(&u.path)?;
            v["label"] = json!(u.label);
            v["speaker"] = json!(u.speaker);
            v["id"] = json!(u.id);
            Ok(v)
        })
        .collect::<Result<Vec<_>>>()?;
    let noises = noise_files.iter().map(|p| identity(p)).collect::<Result<Vec<_>>>()?;
    // The option types' serialised forms: every field by name, floats exact (shortest round-trip form), and
    // stable under renames of Rust variants or reordering of fields that Debug text would not survive.
    let doc = json!({
        "pipeline": PIPELINE_VERSION,
        "format": store::FORMAT,
        "frames": spec.frames,
        "pad": spec.pad,
        "fbank": spec.fbank,
        "waveformScale": spec.waveform_scale,
        "includeClean": spec.include_clean,
        "noisy": spec.noisy,
        "snrsDb": spec.snrs_db,
        "seed": spec.seed,
        "enhancer": enhancer,
        "utterances": utterances,
        "noises": noises,
    });
    let key = store::sha256_hex(&serde_json::to_vec(&doc).expect("JSON values serialise"));
    Ok((key, doc))
}

fn bins(spec: &AudioDatasetSpec) -> usize {
    spec.fbank.num_mel_bins + usize::from(spec.fbank.use_energy)
}

/// Distinct spectrograms per utterance: its clean X (a clean item's X and every noisy copy's Xs), the clean
/// item's Xe, and X and Xe per noisy copy.
fn records_per_utterance(spec: &AudioDatasetSpec) -> usize {
    let copies = match spec.noisy {
        NoisyCopies::None => 0,
        NoisyCopies::OnePerUtterance => 1,
        NoisyCopies::OnePerSnr => spec.snrs_db.len(),
    };
    1 + usize::from(spec.include_clean) + 2 * copies
}

fn check_spec(spec: &AudioDatasetSpec, noises: usize) -> Result<()> {
    if spec.noisy != NoisyCopies::None {
        if noises == 0 || spec.snrs_db.is_empty() {
            return Err(Error::invalid(
                "noise for noisy copies",
                "at least one noise clip and one SNR",
                format!("{noises} clips, {} SNRs", spec.snrs_db.len()),
                "Pass noise clips and SNRs, or use NoisyCopies::None.",
            ));
        }
        if spec.snrs_db.len() > 1024 {
            return Err(Error::invalid("SNR list", "at most 1024 SNRs", spec.snrs_db.len(), "Use fewer SNRs."));
        }
    }
    if !spec.include_clean && spec.noisy == NoisyCopies::None {
        return Err(Error::invalid("dataset spec", "clean items, noisy copies or both", "neither", "Set include_clean or choose noisy copies."));
    }
    Ok(())
}

/// Computes every utterance's items on all cores and passes them to `keep(i, items)` on the worker that
/// made them; returns what `keep` returned, in utterance order. Cancellation wins over failures; otherwise
/// the first failure in utterance order is returned, except that enhancer failures are gathered from every
/// utterance into one `Error::EnhanceFailed`, so the report names all the files at once.
fn map_utterances<T: Send>(
    utterances: &[Utterance],
    noises: &[NoiseClip],
    spec: &AudioDatasetSpec,
    enhancer: Enhancer<'_>,
    control: &BatchControl<'_>,
    keep: impl Fn(usize, Vec<Item>) -> Result<T> + Sync + Send,
) -> Result<Vec<T>> {
    let indexed: Vec<(usize, &Utterance)> = utterances.iter().enumerate().collect();
    let results = par_map_init(
        &indexed,
        || Fbank::new(spec.fbank.clone()),
        |fbank, &(i, utt)| -> Result<T> {
            let fbank = fbank.as_mut().map_err(|e| Error::invalid("fbank options", "valid options", e.to_string(), "Fix the fbank options."))?;
            keep(i, utterance_items(i, utt, noises, spec, enhancer, fbank)?)
        },
        control,
    );
    if results.iter().any(Option::is_none) {
        return Err(Error::Cancelled { checkpoint: None });
    }
    let mut kept = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    for result in results.into_iter().flatten() {
        match result {
            Ok(t) => kept.push(t),
            Err(Error::EnhanceFailed { failures: f, .. }) => failures.extend(f),
            Err(e) if failures.is_empty() => return Err(e),
            Err(_) => {}
        }
    }
    if failures.is_empty() { Ok(kept) } else { Err(Error::EnhanceFailed { utterances: utterances.len(), failures }) }
}

/// Samples of an utterance its features can use: `frames` fbank frames end before `frames · shift + window`
/// samples (one shift more leaves room for the centred frames of snip_edges = false), so the rest of a long
/// file is dropped before mixing and enhancement and their memory follows the kept length, not the file's.
/// None (keep everything) when subtract_mean averages over the whole utterance.
fn samples_kept(spec: &AudioDatasetSpec) -> Option<usize> {
    samples_kept_for(spec.frames, &spec.fbank)
}

/// [`samples_kept`] for `frames` frames of the fbank `f`: the one place the cut is defined (training cuts every
/// utterance to it; predictions from raw audio cut the same way, and a timeline's window may not exceed it).
pub fn samples_kept_for(frames: usize, f: &FbankOptions) -> Option<usize> {
    if f.subtract_mean {
        return None;
    }
    // The fbank's own truncation (torchaudio's int(sample_frequency · ms · 0.001)); options are validated
    // before any utterance is read, so these are small positive numbers.
    let shift = (f.sample_frequency * f.frame_shift * 0.001) as usize;
    let window = (f.sample_frequency * f.frame_length * 0.001) as usize;
    frames.checked_add(1)?.checked_mul(shift)?.checked_add(window)
}

/// `utterance_items`, with argument errors (a silent clip that cannot be mixed, one too short for a frame)
/// naming the file: a build of thousands of files otherwise says what went wrong but not where.
fn utterance_items(i: usize, utt: &Utterance, noises: &[NoiseClip], spec: &AudioDatasetSpec, enhancer: Enhancer<'_>, fbank: &mut Fbank) -> Result<Vec<Item>> {
    let named = |mut d: trnet_dsp::Detail| {
        d.what = format!("utterance {} ({})", utt.path.display(), d.what);
        Error::InvalidArgument(d)
    };
    utterance_items_of(i, utt, noises, spec, enhancer, fbank).map_err(|e| match e {
        Error::Dsp(trnet_dsp::Error::InvalidArgument(d)) | Error::InvalidArgument(d) => named(d),
        other => other,
    })
}

fn utterance_items_of(
    i: usize,
    utt: &Utterance,
    noises: &[NoiseClip],
    spec: &AudioDatasetSpec,
    enhancer: Enhancer<'_>,
    fbank: &mut Fbank,
) -> Result<Vec<Item>> {
    let mut clean = trnet_dsp::audio::load_file(&utt.path, SAMPLE_RATE)?;
    if let Some(kept) = samples_kept(spec) {
        clean.truncate(kept);
        clean.shrink_to_fit();
    }
    let mut scaled = Vec::new();
    let mut features = |wave: &[f32]| -> Result<(crate::dataset::Features, usize)> {
        let f = if spec.waveform_scale == 1.0 {
            fbank.compute(wave)?
        } else {
            scaled.clear();
            scaled.extend(wave.iter().map(|v| v * spec.waveform_scale));
            fbank.compute(&scaled)?
        };
        fix_frames(&f.data, f.bins, spec.frames, spec.pad)
    };
    let id = if utt.id.is_empty() { utt.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default() } else { utt.id.clone() };
    let (xs, valid) = features(&clean)?;
    let mut items = Vec::new();
    // Every item is tried, so the report lists all of this utterance's failures, not just the first.
    let mut failures = Vec::new();
    let mut failed = |item: String, error: trnet_enhance::Error| failures.push(EnhanceFailure { path: utt.path.clone(), item, error });
    if spec.include_clean {
        match enhancer(&clean) {
            Ok(enhanced) => {
                let (xe, _) = features(&enhanced)?;
                items.push(Item::clean(xs.clone(), utt.label).enhanced(xe).valid_frames(valid).speaker(&utt.speaker).id(&id));
            }
            Err(e) => failed(id.clone(), e),
        }
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
        let item_id = format!("{id}@{}:{snr}dB", noise.name);
        let enhanced = match enhancer(&mix.noisy) {
            Ok(e) => e,
            Err(e) => {
                failed(item_id, e);
                continue;
            }
        };
        let (x, valid) = features(&mix.noisy)?;
        let (xe, _) = features(&enhanced)?;
        let item =
            Item::noisy(x, Some(xs.clone()), utt.label, Some(snr), Some(noise.name.clone())).enhanced(xe).valid_frames(valid).speaker(&utt.speaker).id(item_id);
        items.push(item);
    }
    if !failures.is_empty() {
        return Err(Error::EnhanceFailed { utterances: 1, failures });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_samples_give_the_frames_the_whole_utterance_gives() {
        for snip_edges in [true, false] {
            let mut spec = AudioDatasetSpec { frames: 50, ..Default::default() };
            spec.fbank.snip_edges = snip_edges;
            let kept = samples_kept(&spec).expect("a bound");
            let wave: Vec<f32> = (0..kept * 3).map(|i| (i as f32 * 0.013).sin() * 0.3 + ((i * 7919) % 101) as f32 * 1e-3).collect();
            let mut fbank = Fbank::new(spec.fbank.clone()).unwrap();
            let whole = fbank.compute(&wave).unwrap();
            let cut = fbank.compute(&wave[..kept]).unwrap();
            assert!(cut.frames >= spec.frames, "snip_edges {snip_edges}: {} frames", cut.frames);
            let n = spec.frames * whole.bins;
            assert_eq!(whole.data[..n], cut.data[..n], "snip_edges {snip_edges}");
        }
        // A mean over the whole utterance needs all of it.
        let mut spec = AudioDatasetSpec::default();
        spec.fbank.subtract_mean = true;
        assert_eq!(samples_kept(&spec), None);
    }
}
