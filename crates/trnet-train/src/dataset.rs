//! Feature datasets: each item holds its log-Mel spectrograms (in memory, or as records of a feature store
//! read on demand) already fixed to the dataset's frame count (frames × bins, row-major), how many leading frames are real, a class label, a speaker and
//! optional noise tags.
//!
//! # Clean, noisy and enhanced items
//!
//! The paper trains most models on IEM + IEM-ESC: every clean utterance once as it is and once (or more)
//! mixed with noise. A dataset says that with one item per version:
//!
//! | item        | `x` (X)                 | `xe` (Xe)            | `xs` (Xs)                      | `condition` |
//! |-------------|-------------------------|----------------------|--------------------------------|-------------|
//! | clean (IEM) | the clean spectrogram   | SE(clean), optional  | = `x` (the same buffer)        | `Clean`     |
//! | noisy (ESC) | the noisy mixture's     | SE(noisy), optional  | the clean source's, optional   | `Noisy{..}` |
//!
//! What each variant reads from it (see `Fields`):
//!
//! | variant          | items trained on | model input X | Xe | Xs (L_low / L_high) |
//! |------------------|------------------|---------------|----|---------------------|
//! | baseline-c       | clean items only | Xs (= X)      | –  | –                   |
//! | baseline-n       | all              | X             | –  | –                   |
//! | baseline-e       | all              | Xe            | –  | –                   |
//! | trnet, -no-low, -no-high | all      | X             | ✓  | ✓ (every item needs one) |
//!
//! Validation during training uses the same selection (Baseline-c validates on the clean items). `evaluate`
//! reads every item as a test input: X (Xe for Baseline-e), which is how Baseline-c meets noisy speech.
//!
//! Spectrograms are shared `Arc<[f32]>` buffers in memory, or records of a feature store on disk (see
//! `store`) read when a batch needs them; either way a noisy item's Xs and its clean twin's X are one
//! buffer, and `subset` copies no features.

use crate::records::Records;
use crate::{Error, Result};
use std::borrow::Cow;
use std::sync::Arc;
use trnet_dsp::frames::{PadMode, fix_length};

/// One spectrogram, `frames × bins` values, row-major: in memory, or record r of a feature store.
#[derive(Debug, Clone)]
pub enum Features {
    Memory(Arc<[f32]>),
    Stored(Arc<Records>, u32),
}

impl Features {
    /// Copies the values into `out` (exactly their length); a stored one is read from disk.
    pub fn read_into(&self, out: &mut [f32]) -> Result<()> {
        match self {
            Features::Memory(v) => out.copy_from_slice(v),
            Features::Stored(records, r) => records.read(*r, out)?,
        }
        Ok(())
    }

    /// The values, borrowed from memory or read from disk.
    pub fn values(&self) -> Result<Cow<'_, [f32]>> {
        match self {
            Features::Memory(v) => Ok(Cow::Borrowed(v)),
            Features::Stored(records, _) => {
                let mut out = vec![0.0; records.values()];
                self.read_into(&mut out)?;
                Ok(Cow::Owned(out))
            }
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Features::Memory(v) => v.len(),
            Features::Stored(records, _) => records.values(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the values are read from a feature store.
    pub fn is_stored(&self) -> bool {
        matches!(self, Features::Stored(..))
    }

    /// Whether both are the same buffer (not merely equal values).
    pub fn same_as(&self, other: &Features) -> bool {
        match (self, other) {
            (Features::Memory(a), Features::Memory(b)) => Arc::ptr_eq(a, b),
            (Features::Stored(a, r), Features::Stored(b, s)) => Arc::ptr_eq(a, b) && r == s,
            _ => false,
        }
    }
}

impl From<Arc<[f32]>> for Features {
    fn from(v: Arc<[f32]>) -> Self {
        Features::Memory(v)
    }
}

impl From<Vec<f32>> for Features {
    fn from(v: Vec<f32>) -> Self {
        Features::Memory(v.into())
    }
}

/// Whether an item is clean speech or a noisy version of it, with what is known about the noise.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Clean,
    Noisy { snr_db: Option<f64>, noise: Option<String> },
}

impl Condition {
    pub fn is_clean(&self) -> bool {
        matches!(self, Condition::Clean)
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    /// X: the spectrogram the model hears (clean for a clean item, the mixture for a noisy one).
    pub x: Features,
    /// Xe: the SE front end's output for this item's audio.
    pub xe: Option<Features>,
    /// Xs: the clean spectrogram `x` was made from (a clean item's own `x`).
    pub xs: Option<Features>,
    /// Leading frames that are the utterance; the rest is padding (masked out of attention pooling).
    pub valid_frames: usize,
    pub label: usize,
    pub speaker: String,
    /// Free-form name for reports (e.g. the file stem); may be empty.
    pub id: String,
    pub condition: Condition,
}

impl Item {
    /// A clean item: Xs is X itself. `valid_frames` defaults to all frames (`Dataset::push` fills it in).
    pub fn clean(x: impl Into<Features>, label: usize) -> Self {
        let x = x.into();
        Item { xs: Some(x.clone()), x, xe: None, valid_frames: 0, label, speaker: String::new(), id: String::new(), condition: Condition::Clean }
    }

    /// A noisy item made from the clean spectrogram `xs` (pass `None` if it is unknown; only the TRNet
    /// variants need it).
    pub fn noisy(x: impl Into<Features>, xs: Option<Features>, label: usize, snr_db: Option<f64>, noise: Option<String>) -> Self {
        Item { x: x.into(), xe: None, xs, valid_frames: 0, label, speaker: String::new(), id: String::new(), condition: Condition::Noisy { snr_db, noise } }
    }

    pub fn enhanced(mut self, xe: impl Into<Features>) -> Self {
        self.xe = Some(xe.into());
        self
    }

    pub fn speaker(mut self, speaker: impl Into<String>) -> Self {
        self.speaker = speaker.into();
        self
    }

    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    pub fn valid_frames(mut self, n: usize) -> Self {
        self.valid_frames = n;
        self
    }
}

/// Flat arrays for `Dataset::from_arrays`, the form the addon receives from JavaScript: `n` items of
/// `frames × bins` values each, concatenated.
#[derive(Debug, Clone, Copy, Default)]
pub struct Arrays<'a> {
    pub frames: usize,
    pub bins: usize,
    /// n × frames × bins.
    pub x: &'a [f32],
    pub xe: Option<&'a [f32]>,
    /// n × frames × bins clean spectrograms. Alternative: `clean_item`.
    pub xs: Option<&'a [f32]>,
    /// Instead of `xs`: for each item, the index of the clean item whose X is its Xs (a clean item names
    /// itself). Shares the buffers instead of copying them.
    pub clean_item: Option<&'a [u32]>,
    /// Real frames per item (`None`: all frames are real).
    pub valid_frames: Option<&'a [u32]>,
    pub labels: &'a [u32],
    pub speakers: Option<&'a [String]>,
    pub ids: Option<&'a [String]>,
    /// SNR tag per item; NaN = none.
    pub snr_db: Option<&'a [f64]>,
    /// Noise tag per item; "" = none.
    pub noise: Option<&'a [String]>,
    /// Which items are clean. When absent: with `clean_item`, the items that name themselves; otherwise
    /// the items without an SNR tag.
    pub clean: Option<&'a [bool]>,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    frames: usize,
    bins: usize,
    items: Vec<Item>,
}

const MAX_FRAMES: usize = 1 << 20;
const MAX_BINS: usize = 4096;

impl Dataset {
    /// An empty dataset of `frames × bins` spectrograms.
    pub fn new(frames: usize, bins: usize) -> Result<Self> {
        if frames == 0 || frames > MAX_FRAMES || bins == 0 || bins > MAX_BINS {
            return Err(Error::invalid(
                "dataset shape",
                format!("1..={MAX_FRAMES} frames and 1..={MAX_BINS} bins"),
                format!("{frames} frames × {bins} bins"),
                "Fix every utterance to the same frame count (paper: 500) with 80 log-Mel bins.",
            ));
        }
        Ok(Dataset { frames, bins, items: Vec::new() })
    }

    pub fn frames(&self) -> usize {
        self.frames
    }

    pub fn bins(&self) -> usize {
        self.bins
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn item(&self, i: usize) -> &Item {
        &self.items[i]
    }

    /// Indices of the clean items.
    pub fn clean_indices(&self) -> Vec<usize> {
        (0..self.items.len()).filter(|&i| self.items[i].condition.is_clean()).collect()
    }

    /// Items per label, `num_classes` long (labels past the end are not counted).
    pub fn class_counts(&self, num_classes: usize) -> Vec<usize> {
        let mut counts = vec![0; num_classes];
        for item in &self.items {
            if let Some(c) = counts.get_mut(item.label) {
                *c += 1;
            }
        }
        counts
    }

    /// Checks and appends an item; returns its index. A clean item without Xs gets its X as Xs, and
    /// `valid_frames` 0 means all frames.
    pub fn push(&mut self, mut item: Item) -> Result<usize> {
        let index = self.items.len();
        let size = self.frames * self.bins;
        let check = |what: &str, f: &Features| -> Result<()> {
            let values = match f {
                Features::Memory(v) => v,
                // Length and values were checked when the store was written; open() checked its shape.
                Features::Stored(records, _) if records.values() == size => return Ok(()),
                Features::Stored(..) => &[][..],
            };
            if f.len() != size {
                return Err(Error::invalid(
                    format!("item {index} {what}"),
                    format!("{} frames × {} bins = {size} values", self.frames, self.bins),
                    format!("{} values", f.len()),
                    "Fix each spectrogram to the dataset's frame count (fix_frames) before adding it.",
                ));
            }
            if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid(
                    format!("item {index} {what}"),
                    "finite values",
                    format!("{} at value {pos} (frame {}, bin {})", values[pos], pos / self.bins, pos % self.bins),
                    "Log-Mel features of silence should be floored (Kaldi's fbank floors at float epsilon); check the feature extractor.",
                ));
            }
            Ok(())
        };
        check("X", &item.x)?;
        if let Some(xe) = &item.xe {
            check("Xe", xe)?;
        }
        if item.condition.is_clean() && item.xs.is_none() {
            item.xs = Some(item.x.clone());
        }
        if let Some(xs) = &item.xs
            && !xs.same_as(&item.x)
        {
            check("Xs", xs)?;
        }
        if item.valid_frames == 0 {
            item.valid_frames = self.frames;
        }
        if item.valid_frames > self.frames {
            return Err(Error::invalid(
                format!("item {index} valid frames"),
                format!("1..={} (the dataset's frame count)", self.frames),
                item.valid_frames,
                "Pass the utterance's frame count after truncation, as fix_frames returns it.",
            ));
        }
        if let Condition::Noisy { snr_db: Some(s), .. } = &item.condition
            && !s.is_finite()
        {
            return Err(Error::invalid(format!("item {index} SNR tag"), "a finite dB value or none", s, "Leave the tag out when the SNR is unknown."));
        }
        self.items.push(item);
        Ok(index)
    }

    /// Builds a dataset from flat arrays (copies the features into per-item buffers).
    pub fn from_arrays(a: &Arrays<'_>) -> Result<Self> {
        let mut ds = Dataset::new(a.frames, a.bins)?;
        let size = a.frames * a.bins;
        let n = a.labels.len();
        let len_check = |what: &str, len: usize, per_item: usize| -> Result<()> {
            if len != n * per_item {
                let unit = if per_item == 1 { "value".to_string() } else { format!("{} frames × {} bins", a.frames, a.bins) };
                return Err(Error::invalid(
                    what,
                    format!("{n} items (one per label) × {unit} = {} values", n * per_item),
                    format!("{len} values"),
                    "Pass one entry per item, in the order of labels.",
                ));
            }
            Ok(())
        };
        len_check("x", a.x.len(), size)?;
        if let Some(xe) = a.xe {
            len_check("xe", xe.len(), size)?;
        }
        if let Some(xs) = a.xs {
            len_check("xs", xs.len(), size)?;
        }
        if a.xs.is_some() && a.clean_item.is_some() {
            return Err(Error::invalid("xs / cleanItem", "one of them", "both", "Pass either the clean spectrograms or the index of each item's clean twin."));
        }
        for (what, len) in [
            ("cleanItem", a.clean_item.map(<[u32]>::len)),
            ("validFrames", a.valid_frames.map(<[u32]>::len)),
            ("speakers", a.speakers.map(<[String]>::len)),
            ("ids", a.ids.map(<[String]>::len)),
            ("snrDb", a.snr_db.map(<[f64]>::len)),
            ("noise", a.noise.map(<[String]>::len)),
            ("clean", a.clean.map(<[bool]>::len)),
        ] {
            if let Some(len) = len {
                len_check(what, len, 1)?;
            }
        }
        let slice = |data: &[f32], i: usize| -> Features { Features::Memory(Arc::from(&data[i * size..(i + 1) * size])) };
        let xs_of: Vec<Features> = (0..n).map(|i| slice(a.x, i)).collect();
        for i in 0..n {
            let snr = a.snr_db.map(|s| s[i]).filter(|s| !s.is_nan());
            let noise = a.noise.map(|s| s[i].clone()).filter(|s| !s.is_empty());
            let twin = a.clean_item.map(|c| c[i] as usize);
            if let Some(t) = twin
                && t >= n
            {
                return Err(Error::invalid(format!("cleanItem[{i}]"), format!("an item index in 0..{n}"), t, "Name the clean item this one was made from."));
            }
            let is_clean = match (a.clean, twin) {
                (Some(flags), _) => flags[i],
                (None, Some(t)) => t == i,
                (None, None) => snr.is_none(),
            };
            let x = xs_of[i].clone();
            let xs = match (a.xs, twin) {
                (Some(data), _) => Some(slice(data, i)),
                (None, Some(t)) => Some(xs_of[t].clone()),
                (None, None) => None,
            };
            let mut item = if is_clean {
                let mut it = Item::clean(x, a.labels[i] as usize);
                if let Some(xs) = xs {
                    it.xs = Some(xs);
                }
                it
            } else {
                Item::noisy(x, xs, a.labels[i] as usize, snr, noise)
            };
            if let Some(xe) = a.xe {
                item.xe = Some(slice(xe, i));
            }
            if let Some(v) = a.valid_frames {
                if v[i] == 0 {
                    return Err(Error::invalid(format!("validFrames[{i}]"), format!("1..={}", a.frames), 0, "Drop utterances without frames."));
                }
                item.valid_frames = v[i] as usize;
            }
            if let Some(s) = a.speakers {
                item.speaker = s[i].clone();
            }
            if let Some(s) = a.ids {
                item.id = s[i].clone();
            }
            if let Some(t) = twin
                && a.clean.is_some_and(|f| !f[t])
            {
                return Err(Error::invalid(
                    format!("cleanItem[{i}]"),
                    "the index of a clean item",
                    format!("{t}, which is marked noisy"),
                    "Point each item at its clean version.",
                ));
            }
            ds.push(item)?;
        }
        Ok(ds)
    }

    /// The items at `indices`, in that order (features are shared, not copied).
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        let mut items = Vec::with_capacity(indices.len());
        for &i in indices {
            let item = self
                .items
                .get(i)
                .ok_or_else(|| Error::invalid("subset index", format!("an index in 0..{}", self.items.len()), i, "Pass indices of existing items."))?;
            items.push(item.clone());
        }
        Ok(Dataset { frames: self.frames, bins: self.bins, items })
    }

    /// A 64-bit summary of the dataset (shape, labels, lengths, conditions and a strided sample of every
    /// spectrogram), stored in resumable checkpoints so `resume` notices other data. A guard against
    /// mistakes, not a cryptographic hash: it reads about 1 value in 61 (all of a stored dataset's records
    /// are read from disk for it, once).
    pub fn fingerprint(&self) -> Result<u64> {
        let mut h = Fnv::new();
        h.u64(self.frames as u64);
        h.u64(self.bins as u64);
        h.u64(self.items.len() as u64);
        for item in &self.items {
            h.u64(item.label as u64);
            h.u64(item.valid_frames as u64);
            match &item.condition {
                Condition::Clean => h.u64(0),
                Condition::Noisy { snr_db, .. } => {
                    h.u64(1);
                    h.u64(snr_db.map_or(u64::MAX, f64::to_bits));
                }
            }
            for f in [Some(&item.x), item.xe.as_ref(), item.xs.as_ref()] {
                match f {
                    None => h.u64(2),
                    Some(f) => {
                        let f = f.values()?;
                        for v in f.iter().step_by(61).chain(f.last()) {
                            h.u64(v.to_bits() as u64);
                        }
                    }
                }
            }
        }
        Ok(h.0)
    }

    /// Whether the items read their spectrograms from a feature store.
    pub fn is_stored(&self) -> bool {
        self.items.first().is_some_and(|i| i.x.is_stored())
    }
}

/// Pads or truncates a raw `frames × bins` matrix to `target` frames (paper: 500); returns the buffer and
/// the real frame count for `Item::valid_frames`.
pub fn fix_frames(features: &[f32], bins: usize, target: usize, mode: PadMode) -> Result<(Features, usize)> {
    let fixed = fix_length(features, bins, target, mode)?;
    if fixed.valid_frames == 0 {
        return Err(Error::invalid("utterance features", "at least one frame", "0 frames", "The audio is shorter than one analysis window (25 ms); drop it."));
    }
    Ok((Features::Memory(Arc::from(fixed.data)), fixed.valid_frames))
}

/// FNV-1a, 64 bit: a fixed, dependency-free hash whose values stay the same across versions.
pub(crate) struct Fnv(pub u64);

impl Fnv {
    pub fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats(frames: usize, bins: usize, base: f32) -> Features {
        (0..frames * bins).map(|i| base + i as f32).collect::<Vec<_>>().into()
    }

    #[test]
    fn clean_items_share_x_as_xs_and_default_to_all_frames() {
        let mut ds = Dataset::new(3, 2).unwrap();
        let x = feats(3, 2, 0.0);
        ds.push(Item::clean(x.clone(), 1)).unwrap();
        let item = ds.item(0);
        assert!(item.xs.as_ref().unwrap().same_as(&x));
        assert_eq!(item.valid_frames, 3);
        assert_eq!(ds.clean_indices(), [0]);
        assert_eq!(ds.class_counts(2), [0, 1]);
    }

    #[test]
    fn bad_items_are_refused_with_their_index() {
        let mut ds = Dataset::new(3, 2).unwrap();
        ds.push(Item::clean(feats(3, 2, 0.0), 0)).unwrap();
        let err = ds.push(Item::clean(feats(2, 2, 0.0), 0)).unwrap_err();
        assert!(err.to_string().contains("item 1 X") && err.to_string().contains("4 values"), "{err}");
        let mut nan = feats(3, 2, 0.0).values().unwrap().into_owned();
        nan[3] = f32::NAN;
        let err = ds.push(Item::noisy(feats(3, 2, 0.0), Some(nan.into()), 0, None, None)).unwrap_err();
        assert!(err.to_string().contains("Xs") && err.to_string().contains("frame 1, bin 1"), "{err}");
        let err = ds.push(Item::clean(feats(3, 2, 0.0), 0).valid_frames(4)).unwrap_err();
        assert_eq!(err.code(), "TRNET_INVALID_ARGUMENT");
        assert_eq!(ds.len(), 1);
        assert!(Dataset::new(0, 80).is_err());
    }

    #[test]
    fn arrays_with_clean_twins_share_buffers() {
        let (frames, bins) = (2, 2);
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let labels = [0, 1, 1];
        // Item 0 and 1 are clean; item 2 is a noisy copy of item 1.
        let twins = [0, 1, 1];
        let snr = [f64::NAN, f64::NAN, 5.0];
        let ds = Dataset::from_arrays(&Arrays {
            frames,
            bins,
            x: &x,
            labels: &labels,
            clean_item: Some(&twins),
            snr_db: Some(&snr),
            valid_frames: Some(&[2, 1, 1]),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ds.clean_indices(), [0, 1]);
        assert!(ds.item(2).xs.as_ref().unwrap().same_as(&ds.item(1).x));
        assert_eq!(ds.item(2).condition, Condition::Noisy { snr_db: Some(5.0), noise: None });
        assert_eq!(&ds.item(2).x.values().unwrap()[..], &[8.0, 9.0, 10.0, 11.0]);
        assert_eq!(ds.item(1).valid_frames, 1);

        // Without twins or flags, an item is clean when it has no SNR tag.
        let ds = Dataset::from_arrays(&Arrays { frames, bins, x: &x, labels: &labels, snr_db: Some(&snr), ..Default::default() }).unwrap();
        assert_eq!(ds.clean_indices(), [0, 1]);
        assert!(ds.item(2).xs.is_none());

        let err = Dataset::from_arrays(&Arrays { frames, bins, x: &x[..10], labels: &labels, ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("12 values") && err.to_string().contains("found 10"), "{err}");
        let err = Dataset::from_arrays(&Arrays { frames, bins, x: &x, labels: &labels, clean_item: Some(&[0, 1, 3]), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("cleanItem[2]"), "{err}");
    }

    #[test]
    fn fingerprint_follows_labels_and_values() {
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let make =
            |labels: &[u32], x: &[f32]| Dataset::from_arrays(&Arrays { frames: 2, bins: 2, x, labels, ..Default::default() }).unwrap().fingerprint().unwrap();
        let a = make(&[0, 1, 1], &x);
        assert_eq!(a, make(&[0, 1, 1], &x));
        assert_ne!(a, make(&[0, 1, 0], &x));
        let mut y = x.clone();
        y[0] += 1.0;
        assert_ne!(a, make(&[0, 1, 1], &y));
    }

    #[test]
    fn fix_frames_pads_and_reports_real_frames() {
        let (f, valid) = fix_frames(&[1.0, 2.0, 3.0, 4.0], 2, 3, PadMode::Zero).unwrap();
        assert_eq!((&f.values().unwrap()[..], valid), (&[1.0, 2.0, 3.0, 4.0, 0.0, 0.0][..], 2));
    }
}
