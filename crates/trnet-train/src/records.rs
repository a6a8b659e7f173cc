//! The data file of a feature store as its readers see it: an open file of fixed-size f32 records after a
//! 64-byte header (the layout is in `store`). A leaf module, so that datasets can hold records without
//! importing the store module that writes and checks them (which imports datasets).

use crate::{Error, Result};
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes before record 0.
pub const HEADER: u64 = 64;

const REBUILD: &str = "Delete the folder and build it again (buildFeatureSet with the same store options rebuilds it).";

/// A damaged store, with the fix every such error gives.
pub(crate) fn corrupt(path: &Path, problem: impl Into<String>) -> Error {
    Error::StoreCorrupt { path: path.to_path_buf(), problem: problem.into(), fix: REBUILD.into() }
}

/// An open data file, shared by every item that reads from it.
#[derive(Debug)]
pub struct Records {
    file: File,
    path: PathBuf,
    values: usize,
    count: u64,
    /// CRC-32 of each record's bytes, from the manifest.
    checksums: Vec<u32>,
}

impl Records {
    /// `file` is `count` records of `values` values each, already checked against its header and manifest;
    /// `checksums` holds the manifest's CRC-32 of every record, which every read is checked against.
    pub(crate) fn new(file: File, path: PathBuf, values: usize, count: u64, checksums: Vec<u32>) -> Self {
        Records { file, path, values, count, checksums }
    }

    /// Values per record (frames × bins).
    pub fn values(&self) -> usize {
        self.values
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads record `record` into `out` (`values()` long) with one positional read.
    pub fn read(&self, record: u32, out: &mut [f32]) -> Result<()> {
        assert_eq!(out.len(), self.values, "a record is read into a buffer of its size");
        // SAFETY: u8 has no alignment requirement and every bit pattern is a valid f32, so viewing the
        // buffer as bytes and filling it is sound; the byte length is exactly the slice's.
        let bytes = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(out)) };
        let offset = HEADER + record as u64 * (self.values as u64 * 4);
        self.file.read_exact_at(bytes, offset).map_err(|e| {
            if e.kind() == ErrorKind::UnexpectedEof {
                corrupt(&self.path, format!("record {record} of {} lies past the end of the file: it was truncated after the store was opened", self.count))
            } else {
                Error::io(format!("reading feature record {record} from"), &self.path)(e)
            }
        })?;
        self.check(record, bytes)?;
        if cfg!(target_endian = "big") {
            for v in out.iter_mut() {
                *v = f32::from_bits(u32::from_le(v.to_bits()));
            }
        }
        Ok(())
    }

    /// Compares a record's bytes with the checksum the manifest recorded for it.
    fn check(&self, record: u32, bytes: &[u8]) -> Result<()> {
        let Some(&expected) = self.checksums.get(record as usize) else {
            return Err(corrupt(&self.path, format!("record {record} is past the {} records the manifest lists", self.count)));
        };
        let found = crc32fast::hash(bytes);
        if found != expected {
            let at = HEADER + record as u64 * (self.values as u64 * 4);
            return Err(corrupt(
                &self.path,
                format!(
                    "record {record} (bytes {at}..{}) has CRC-32 {found:08x} where the manifest recorded {expected:08x}: the file changed after it was written (disk or copy damage, or an edit)",
                    at + bytes.len() as u64
                ),
            ));
        }
        Ok(())
    }

    /// Reads every record in file order and checks its checksum (the first mismatch is the error).
    pub fn verify_all(&self) -> Result<()> {
        let size = self.values * 4;
        // Several records per read: fewer system calls on stores of small records.
        let per_read = (4usize << 20).div_ceil(size.max(1)).max(1);
        let mut buf = vec![0u8; per_read * size];
        let mut record = 0u64;
        while record < self.count {
            let n = (self.count - record).min(per_read as u64) as usize;
            let chunk = &mut buf[..n * size];
            self.file.read_exact_at(chunk, HEADER + record * size as u64).map_err(|e| {
                if e.kind() == ErrorKind::UnexpectedEof {
                    corrupt(&self.path, "the file ends before its last record: it was truncated")
                } else {
                    Error::io("verifying the records of", &self.path)(e)
                }
            })?;
            for (k, bytes) in chunk.chunks_exact(size.max(1)).enumerate() {
                self.check((record + k as u64) as u32, bytes)?;
            }
            record += n as u64;
        }
        Ok(())
    }
}
