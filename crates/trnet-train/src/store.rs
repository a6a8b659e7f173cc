//! Feature stores: a dataset's spectrograms in one file of fixed-size f32 records plus a JSON manifest of
//! the items, so corpus-sized feature sets live on disk and batches read only what they use.
//!
//! # Layout
//!
//! A store is a folder holding two files:
//!
//! - `features.f32`: a 64-byte header — magic `TRNETFST`, format (u32 LE), 4 reserved bytes, values per
//!   record (u64 LE), record count (u64 LE), SHA-256 of `manifest.json` (32 bytes) — then the records,
//!   each `frames × bins` little-endian f32 values (row-major), record r at byte `64 + r·frames·bins·4`.
//! - `manifest.json`: format, the build key and the inputs it was computed from, frames, bins, record count,
//!   the CRC-32 of every record's bytes, and per item its label, speaker, id, condition, valid frames and
//!   the records holding X, Xe and Xs. Buffers an item shares (a clean item's Xs is its X; a noisy item's
//!   Xs is its clean twin's X) are one record.
//!
//! # Writing
//!
//! `StoreWriter` fills a private temporary folder next to the final one and renames it into place only
//! when the records, the manifest and the header are written and synced. A folder at the final name is
//! therefore always complete; a build that fails or is cancelled removes its temporary folder, and one that
//! is killed leaves a `.building-*` folder that is never opened as a store and that the next build in the
//! same root removes (`remove_abandoned`). Two builders of the same store both succeed: the first rename
//! wins, the second finds the folder in place and discards its own copy.
//!
//! # Reading
//!
//! `open` checks the header, the manifest's checksum and the data file's size before it hands out a
//! dataset, so a truncated, overwritten or mismatched store is refused with a coded error instead of being
//! read as garbage. Every record read is checked against its CRC-32 (TRNET_STORE_CORRUPT naming the file
//! when a byte changed since the store was written), and `open_verified` checks all of them up front: the
//! cache hit of `buildFeatureSet` uses it, so a damaged store is rebuilt instead of being reported as cached.
//! CRC-32 rather than a cryptographic hash: it guards against disk and copy damage and bit rot, not against
//! someone forging records, and at several GB/s (crc32fast uses the CPU's carry-less multiply) it adds a
//! few percent to a read that comes from the page cache. Items then read their records on demand with
//! positional reads (`pread`) on one shared
//! file handle. Positional reads rather than mmap: pages read this way sit in the kernel's page cache, not
//! in the process's resident set, so RSS stays bounded by the batches in flight whatever the store's size;
//! threads need no shared seek position; and a file truncated under a reader gives an error (short read)
//! instead of a SIGBUS that would kill Node.

use crate::dataset::{Condition, Dataset, Features, Item};
pub use crate::records::Records;
use crate::records::{HEADER, corrupt};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use trnet_dsp::Detail;
use trnet_dsp::files::{left_by_dead_process, temp_sibling};

/// The layout version; `open` refuses other versions (TRNET_STORE_MISMATCH). 2 added per-record checksums.
pub const FORMAT: u32 = 2;
pub const DATA_FILE: &str = "features.f32";
pub const MANIFEST_FILE: &str = "manifest.json";
const MAGIC: &[u8; 8] = b"TRNETFST";
/// Tags of the temporary folders beside stores (`trnet_dsp::files::temp_sibling`): one being built, and a
/// damaged one moved out of the way.
const BUILDING: &str = "building";
pub(crate) const DAMAGED: &str = "damaged";

/// One item as the manifest records it: metadata and the records of its spectrograms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredItem {
    pub label: usize,
    pub speaker: String,
    pub id: String,
    pub clean: bool,
    pub snr_db: Option<f64>,
    pub noise: Option<String>,
    pub valid_frames: usize,
    pub x: u32,
    pub xe: Option<u32>,
    pub xs: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: u32,
    /// The build key (the store folder's name when built by `features::stored_dataset_from_audio`).
    key: String,
    /// What the key was computed from, for people and for error messages.
    inputs: serde_json::Value,
    frames: usize,
    bins: usize,
    records: u64,
    /// CRC-32 (IEEE, as crc32fast computes it) of each record's little-endian bytes, by record number.
    checksums: Vec<u32>,
    items: Vec<StoredItem>,
}

/// A folder without a manifest. With a data file it is a store whose build did not finish (rebuild it);
/// without one it is no store at all, most often the folder that holds the stores (`store.dir`): telling
/// the caller to delete that would delete every store in it, so the fix names the stores inside instead.
fn not_a_store(dir: &Path) -> Error {
    if dir.join(DATA_FILE).exists() {
        return corrupt(dir, format!("it has no {MANIFEST_FILE}: it is not a finished feature store"));
    }
    let inside: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries.filter_map(|e| e.ok()).filter(|e| e.path().join(MANIFEST_FILE).is_file()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
        })
        .unwrap_or_default();
    let fix = match inside.len() {
        0 => "Pass the folder a feature set was built into (FeatureSet.storePath).".to_string(),
        n => format!(
            "It holds {n} feature store(s) ({}{}); pass one of those folders (FeatureSet.storePath), not the folder that holds them.",
            inside.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            if n > 3 { ", …" } else { "" }
        ),
    };
    Error::StoreNotFound { dir: dir.to_path_buf(), fix: format!("It has no {MANIFEST_FILE}, so it is not a feature store. {fix}") }
}

/// Hex SHA-256, the form keys and checksums take.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A store being written (see the module docs). Dropping it unfinished removes the temporary folder.
pub struct StoreWriter {
    final_dir: PathBuf,
    tmp_dir: PathBuf,
    file: File,
    values: usize,
    frames: usize,
    bins: usize,
    /// Checksums of the records written so far, by record number (filled from many threads).
    checksums: Mutex<Vec<Option<u32>>>,
    finished: bool,
}

impl StoreWriter {
    /// Starts a store that will appear at `dir` (its parent is created). Records are `frames × bins` values.
    pub fn create(dir: &Path, frames: usize, bins: usize) -> Result<Self> {
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(Error::io("creating the feature store folder", parent))?;
        let tmp_dir = temp_sibling(dir, BUILDING);
        std::fs::create_dir(&tmp_dir).map_err(Error::io("creating a temporary feature store folder", &tmp_dir))?;
        let data = tmp_dir.join(DATA_FILE);
        let file = match std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&data) {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp_dir);
                return Err(Error::io("creating", &data)(e));
            }
        };
        Ok(StoreWriter { final_dir: dir.to_path_buf(), tmp_dir, file, values: frames * bins, frames, bins, checksums: Mutex::new(Vec::new()), finished: false })
    }

    /// Writes `values` as record `record`. Safe to call from many threads for different records.
    pub fn write(&self, record: u32, values: &[f32]) -> Result<()> {
        if values.len() != self.values {
            return Err(Error::invalid(
                "feature record",
                format!("{} values", self.values),
                values.len(),
                "Fix every spectrogram to the store's frames × bins.",
            ));
        }
        if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
            // Checked here because stored items are not checked again when opened.
            return Err(Error::invalid(
                format!("feature record {record}"),
                "finite values",
                format!("{} at value {pos}", values[pos]),
                "Log-Mel features of silence should be floored; check the feature extractor.",
            ));
        }
        let mut bytes = Vec::with_capacity(values.len() * 4);
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let offset = HEADER + record as u64 * (self.values as u64 * 4);
        self.file.write_all_at(&bytes, offset).map_err(Error::io(format!("writing feature record {record} to"), self.tmp_dir.join(DATA_FILE)))?;
        let crc = crc32fast::hash(&bytes);
        let mut sums = self.checksums.lock().unwrap_or_else(|p| p.into_inner());
        if sums.len() <= record as usize {
            sums.resize(record as usize + 1, None);
        }
        sums[record as usize] = Some(crc);
        Ok(())
    }

    /// Writes the distinct in-memory spectrograms of `items` as records `first, first + 1, …` (a buffer two
    /// fields share is written once) and returns the items as the manifest records them, with the number
    /// of records used.
    pub fn put_items(&self, first: u32, items: &[Item]) -> Result<(Vec<StoredItem>, u32)> {
        let mut written: HashMap<*const f32, u32> = HashMap::new();
        let mut next = first;
        let mut record_of = |f: &Features| -> Result<u32> {
            let values = match f {
                Features::Memory(v) => v,
                Features::Stored(..) => {
                    return Err(Error::invalid("feature store item", "spectrograms in memory", "one already in a store", "Write in-memory datasets only."));
                }
            };
            if let Some(&r) = written.get(&values.as_ptr()) {
                return Ok(r);
            }
            self.write(next, values)?;
            written.insert(values.as_ptr(), next);
            next += 1;
            Ok(next - 1)
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let (snr_db, noise) = match &item.condition {
                Condition::Clean => (None, None),
                Condition::Noisy { snr_db, noise } => (*snr_db, noise.clone()),
            };
            out.push(StoredItem {
                label: item.label,
                speaker: item.speaker.clone(),
                id: item.id.clone(),
                clean: item.condition.is_clean(),
                snr_db,
                noise,
                valid_frames: item.valid_frames,
                x: record_of(&item.x)?,
                xe: item.xe.as_ref().map(&mut record_of).transpose()?,
                xs: item.xs.as_ref().map(&mut record_of).transpose()?,
            });
        }
        Ok((out, next - first))
    }

    /// Writes the manifest and the header, syncs, and moves the store into place. `records` is the record
    /// count (the data file is sized to it). Returns the store's folder. When another builder finished the
    /// same folder first, that store is kept and this one discarded.
    pub fn finish(mut self, key: &str, inputs: serde_json::Value, records: u64, items: Vec<StoredItem>) -> Result<PathBuf> {
        if let Some(bad) = items.iter().flat_map(|i| [Some(i.x), i.xe, i.xs]).flatten().find(|&r| r as u64 >= records) {
            return Err(Error::invalid("feature store record", format!("a record in 0..{records}"), bad, "This is a bug in trnet-train."));
        }
        // A record never written reads back as zeros (the file is sized below), so that is its checksum.
        let zeros = crc32fast::hash(&vec![0u8; self.values * 4]);
        let sums = std::mem::take(&mut *self.checksums.lock().unwrap_or_else(|p| p.into_inner()));
        let checksums: Vec<u32> = (0..records as usize).map(|r| sums.get(r).copied().flatten().unwrap_or(zeros)).collect();
        let manifest = Manifest { format: FORMAT, key: key.to_string(), inputs, frames: self.frames, bins: self.bins, records, checksums, items };
        let text = serde_json::to_vec_pretty(&manifest).expect("manifests serialise");
        let data_path = self.tmp_dir.join(DATA_FILE);
        let manifest_path = self.tmp_dir.join(MANIFEST_FILE);
        let mut header = Vec::with_capacity(HEADER as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT.to_le_bytes());
        header.extend_from_slice(&[0; 4]);
        header.extend_from_slice(&(self.values as u64).to_le_bytes());
        header.extend_from_slice(&records.to_le_bytes());
        header.extend_from_slice(&Sha256::digest(&text));
        debug_assert_eq!(header.len() as u64, HEADER);
        self.file.set_len(HEADER + records * self.values as u64 * 4).map_err(Error::io("sizing", &data_path))?;
        self.file.write_all_at(&header, 0).map_err(Error::io("writing the header of", &data_path))?;
        // Synced before the rename, so a crash cannot leave a complete-looking store with missing data.
        self.file.sync_all().map_err(Error::io("syncing", &data_path))?;
        let written = File::create(&manifest_path).and_then(|mut f| std::io::Write::write_all(&mut f, &text).and_then(|_| f.sync_all()));
        written.map_err(Error::io("writing", &manifest_path))?;
        match std::fs::rename(&self.tmp_dir, &self.final_dir) {
            Ok(()) => {}
            // Someone else's complete store is already there (rename onto a non-empty folder fails).
            Err(_) if self.final_dir.join(MANIFEST_FILE).is_file() => {}
            Err(e) => return Err(Error::io("moving the finished feature store to", &self.final_dir)(e)),
        }
        self.finished = true;
        let _ = std::fs::remove_dir_all(&self.tmp_dir);
        Ok(self.final_dir.clone())
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.tmp_dir);
        }
    }
}

/// Removes the `.building-*` and `.damaged-*` folders under `root` whose builder no longer runs (killed
/// mid-build: its pid, the second-to-last part of the name, is not in /proc). Folders of live builders are
/// left alone; without /proc nothing is removed.
pub fn remove_abandoned(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if left_by_dead_process(&name, BUILDING) || left_by_dead_process(&name, DAMAGED) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Writes an in-memory dataset as a store at `dir` (key "" unless given). Returns the folder.
pub fn save(dataset: &Dataset, dir: &Path, key: &str, inputs: serde_json::Value) -> Result<PathBuf> {
    let writer = StoreWriter::create(dir, dataset.frames(), dataset.bins())?;
    let (items, used) = writer.put_items(0, dataset.items())?;
    writer.finish(key, inputs, used as u64, items)
}

/// Opens the store at `dir` after checking it (see the module docs); its items read their records on demand.
pub fn open(dir: &Path) -> Result<Dataset> {
    open_with_key(dir).map(|(dataset, _)| dataset)
}

/// `open`, also returning the build key the manifest records.
pub fn open_with_key(dir: &Path) -> Result<(Dataset, String)> {
    open_checked(dir, false)
}

/// `open_with_key` that also reads every record and checks its checksum before handing the store out (the
/// cache hit of `stored_dataset_from_audio`: a whole-file read, at the disk's or page cache's speed).
pub fn open_verified(dir: &Path) -> Result<(Dataset, String)> {
    open_checked(dir, true)
}

fn open_checked(dir: &Path, verify: bool) -> Result<(Dataset, String)> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let data_path = dir.join(DATA_FILE);
    if !dir.is_dir() {
        return Err(Error::StoreNotFound {
            dir: dir.to_path_buf(),
            fix: "Pass the folder a feature set was built into (FeatureSet.storePath), or build it with buildFeatureSet and the store option.".into(),
        });
    }
    let text = match std::fs::read(&manifest_path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(not_a_store(dir)),
        Err(e) => return Err(Error::io("reading", &manifest_path)(e)),
    };
    let mut file = match File::open(&data_path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(corrupt(dir, format!("it has no {DATA_FILE}"))),
        Err(e) => return Err(Error::io("opening", &data_path)(e)),
    };
    let mut header = [0u8; HEADER as usize];
    file.read_exact(&mut header).map_err(|_| corrupt(&data_path, "the file is shorter than its 64-byte header"))?;
    if &header[..8] != MAGIC {
        return Err(corrupt(&data_path, "it does not start with TRNETFST: not a trnet feature store"));
    }
    let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
    let format = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if format != FORMAT {
        return Err(Error::StoreMismatch {
            dir: dir.to_path_buf(),
            detail: Box::new(Detail::new(
                "format",
                format!("format {FORMAT} (this version of trnet)"),
                format!("format {format}"),
                "Build the feature set again with this version (buildFeatureSet with the store option), or use the trnet version that wrote it.",
            )),
        });
    }
    if header[32..64] != Sha256::digest(&text)[..] {
        return Err(corrupt(
            &manifest_path,
            format!("its SHA-256 does not match the one recorded in {DATA_FILE}: one of the two was changed or comes from another store"),
        ));
    }
    let m: Manifest = serde_json::from_slice(&text).map_err(|e| corrupt(&manifest_path, format!("it cannot be read: {e}")))?;
    let values = m.frames.saturating_mul(m.bins);
    if u64_at(16) != values as u64 || u64_at(24) != m.records {
        return Err(corrupt(
            &data_path,
            format!("its header says {} records of {} values, the manifest {} records of {} × {} values", u64_at(24), u64_at(16), m.records, m.frames, m.bins),
        ));
    }
    let expected = HEADER + m.records * values as u64 * 4;
    let found = file.metadata().map_err(Error::io("reading the size of", &data_path))?.len();
    if found != expected {
        return Err(corrupt(
            &data_path,
            format!(
                "it is {found} bytes, but {} records of {} × {} f32 values take {expected} bytes: it was truncated or overwritten",
                m.records, m.frames, m.bins
            ),
        ));
    }
    if m.checksums.len() as u64 != m.records {
        return Err(corrupt(&manifest_path, format!("it lists {} record checksums for {} records", m.checksums.len(), m.records)));
    }
    let records = Arc::new(Records::new(file, data_path, values, m.records, m.checksums));
    if verify {
        records.verify_all()?;
    }
    let mut ds = Dataset::new(m.frames, m.bins)?;
    let record = |r: u32, what: &str, i: usize| -> Result<Features> {
        if r as u64 >= m.records {
            return Err(corrupt(&manifest_path, format!("item {i}'s {what} names record {r}, but the store holds {}", m.records)));
        }
        Ok(Features::Stored(records.clone(), r))
    };
    for (i, s) in m.items.iter().enumerate() {
        let condition = if s.clean { Condition::Clean } else { Condition::Noisy { snr_db: s.snr_db, noise: s.noise.clone() } };
        let item = Item {
            x: record(s.x, "X", i)?,
            xe: s.xe.map(|r| record(r, "Xe", i)).transpose()?,
            xs: s.xs.map(|r| record(r, "Xs", i)).transpose()?,
            valid_frames: s.valid_frames,
            label: s.label,
            speaker: s.speaker.clone(),
            id: s.id.clone(),
            condition,
        };
        ds.push(item).map_err(|e| corrupt(&manifest_path, format!("item {i}: {e}")))?;
    }
    Ok((ds, m.key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("trnet-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn dataset() -> Dataset {
        let mut ds = Dataset::new(3, 2).unwrap();
        for i in 0..4 {
            let x: Arc<[f32]> = (0..6).map(|k| (i * 10 + k) as f32 + 0.25).collect::<Vec<_>>().into();
            let xe: Arc<[f32]> = x.iter().map(|v| -v).collect::<Vec<_>>().into();
            ds.push(Item::clean(x.clone(), i % 2).enhanced(xe).valid_frames(1 + i % 3).speaker(format!("s{i}")).id(format!("u{i}"))).unwrap();
            let noisy: Arc<[f32]> = x.iter().map(|v| v * 2.0).collect::<Vec<_>>().into();
            ds.push(Item::noisy(noisy, Some(x.into()), i % 2, Some(5.0), Some("rain".into())).id(format!("u{i}n"))).unwrap();
        }
        ds
    }

    fn values(f: &Features) -> Vec<f32> {
        f.values().unwrap().into_owned()
    }

    #[test]
    fn round_trip_keeps_items_values_and_sharing() {
        let dir = temp_dir("round");
        let ds = dataset();
        save(&ds, &dir, "k", serde_json::json!({})).unwrap();
        let back = open(&dir).unwrap();
        assert_eq!(back.len(), ds.len());
        for (a, b) in ds.items().iter().zip(back.items()) {
            assert_eq!((a.label, &a.speaker, &a.id, &a.condition, a.valid_frames), (b.label, &b.speaker, &b.id, &b.condition, b.valid_frames));
            assert_eq!(values(&a.x), values(&b.x));
            assert_eq!(a.xe.as_ref().map(values), b.xe.as_ref().map(values));
            assert_eq!(a.xs.as_ref().map(values), b.xs.as_ref().map(values));
            assert!(b.x.is_stored());
        }
        // Shared buffers are one record: 4 × (X, Xe, noisy X) = 12, not 4 × 5.
        let size = std::fs::metadata(dir.join(DATA_FILE)).unwrap().len();
        assert_eq!(size, HEADER + 12 * 6 * 4);
        assert!(back.item(1).xs.as_ref().unwrap().same_as(&back.item(0).x));
        assert_eq!(back.fingerprint().unwrap(), ds.fingerprint().unwrap());
        assert_eq!(open_with_key(&dir).unwrap().1, "k");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn damaged_stores_are_refused_with_coded_errors() {
        let dir = temp_dir("damaged");
        let ds = dataset();
        let err = open(&dir).unwrap_err();
        assert_eq!(err.code(), "TRNET_STORE_NOT_FOUND");
        save(&ds, &dir, "k", serde_json::json!({})).unwrap();
        let data = dir.join(DATA_FILE);
        let bytes = std::fs::read(&data).unwrap();

        std::fs::write(&data, &bytes[..bytes.len() - 4]).unwrap();
        let err = open(&dir).unwrap_err();
        assert_eq!(err.code(), "TRNET_STORE_CORRUPT");
        assert!(err.to_string().contains("truncated"), "{err}");

        std::fs::write(&data, &bytes).unwrap();
        let manifest = std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
        std::fs::write(dir.join(MANIFEST_FILE), manifest.replace("\"label\": 1", "\"label\": 0")).unwrap();
        let err = open(&dir).unwrap_err();
        assert_eq!(err.code(), "TRNET_STORE_CORRUPT");
        assert!(err.to_string().contains("SHA-256"), "{err}");

        std::fs::write(dir.join(MANIFEST_FILE), &manifest).unwrap();
        let mut other = bytes.clone();
        other[8] = 9;
        std::fs::write(&data, &other).unwrap();
        let err = open(&dir).unwrap_err();
        assert_eq!(err.code(), "TRNET_STORE_MISMATCH");
        assert!(err.to_string().contains("format 9"), "{err}");

        // Truncated after opening: reads fail with a coded error, never return garbage.
        std::fs::write(&data, &bytes).unwrap();
        let opened = open(&dir).unwrap();
        std::fs::OpenOptions::new().write(true).open(&data).unwrap().set_len(HEADER + 6 * 4).unwrap();
        let err = opened.item(7).x.values().unwrap_err();
        assert_eq!(err.code(), "TRNET_STORE_CORRUPT");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_flipped_byte_in_a_record_is_caught_on_read_and_by_open_verified() {
        let dir = temp_dir("flipped");
        let ds = dataset();
        save(&ds, &dir, "k", serde_json::json!({})).unwrap();
        assert!(open_verified(&dir).is_ok());
        let data = dir.join(DATA_FILE);
        let mut bytes = std::fs::read(&data).unwrap();
        // Record 5, value 3: the middle of the file, size unchanged (issue 11, case 2).
        let at = (HEADER + 5 * 6 * 4 + 3 * 4 + 1) as usize;
        bytes[at] ^= 0x40;
        std::fs::write(&data, &bytes).unwrap();

        // The cheap open (header, manifest, size) still succeeds; the record read does not.
        let opened = open(&dir).unwrap();
        let damaged: Vec<usize> = (0..opened.len())
            .filter(|&i| {
                let item = opened.item(i);
                [Some(&item.x), item.xe.as_ref(), item.xs.as_ref()].into_iter().flatten().any(|f| f.values().is_err())
            })
            .collect();
        assert!(!damaged.is_empty());
        let item = opened.item(damaged[0]);
        let err = [Some(&item.x), item.xe.as_ref(), item.xs.as_ref()].into_iter().flatten().find_map(|f| f.values().err()).unwrap();
        assert_eq!(err.code(), "TRNET_STORE_CORRUPT");
        let msg = err.to_string();
        assert!(msg.contains("features.f32") && msg.contains("record 5") && msg.contains("CRC-32") && msg.contains("build it again"), "{msg}");
        // Undamaged records still read.
        assert_eq!(values(&opened.item(0).x), values(&ds.item(0).x));

        let err = open_verified(&dir).unwrap_err();
        assert_eq!(err.code(), "TRNET_STORE_CORRUPT");
        assert!(err.to_string().contains("record 5"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_builders_of_one_store_all_succeed_and_leave_one_whole_store() {
        let dir = temp_dir("race");
        let ds = dataset();
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    save(&ds, &dir, "k", serde_json::json!({})).unwrap();
                    open(&dir).unwrap();
                });
            }
        });
        assert_eq!(open(&dir).unwrap().fingerprint().unwrap(), ds.fingerprint().unwrap());
        let parent = dir.parent().unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let leftovers =
            std::fs::read_dir(parent).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(&format!(".building-{name}-"))).count();
        assert_eq!(leftovers, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unfinished_store_is_never_at_the_final_path() {
        let dir = temp_dir("unfinished");
        let writer = StoreWriter::create(&dir, 3, 2).unwrap();
        writer.write(0, &[1.0; 6]).unwrap();
        assert!(!dir.exists());
        drop(writer);
        assert!(!dir.exists());
        assert_eq!(open(&dir).unwrap_err().code(), "TRNET_STORE_NOT_FOUND");

        // A killed builder's folder (its pid no longer runs) is cleaned up; a live one's is not.
        let root = dir.parent().unwrap().join(format!("trnet-store-abandoned-{}", std::process::id()));
        let (dead, live) = (root.join(".building-k-4294967295-0"), root.join(format!(".building-k-{}-0", std::process::id())));
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::create_dir_all(&live).unwrap();
        remove_abandoned(&root);
        assert!(!dead.exists() && live.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
