//! On-disk cache of enhanced audio, so each noisy utterance goes through the SE model once.
//!
//! The key is SHA-256 over the enhancer's fingerprint (name, processing version, model file hash, every
//! setting that changes the output) and the noisy samples themselves. The noisy samples are a function of
//! (utterance, noise clip, SNR, seed), so this is "once per (utterance, noise, SNR, seed, SE model)", and a
//! changed model file or setting simply misses. Entries are written atomically (`trnet_dsp::files`), so two
//! processes filling the same entry at once both succeed and a reader never sees half a file; they are not
//! fsynced (an entry lost in a crash is only a miss). Each entry carries the CRC-32 of its samples' bytes: a
//! damaged entry (wrong header, length or checksum: a byte flipped on disk, a file truncated or overwritten)
//! is treated as a miss and rewritten, so garbage never comes back as enhanced audio.

use crate::{Enhancer, Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use trnet_dsp::files::{Durability, write_atomic};

const MAGIC: &[u8; 8] = b"TRNETENH";
/// 2 added the checksum; entries of version 1 miss and are rewritten.
const VERSION: u32 = 2;
/// Magic, version (u32 LE), sample count (u64 LE), CRC-32 of the sample bytes (u32 LE).
const HEADER: usize = 8 + 4 + 8 + 4;

pub struct EnhanceCache {
    dir: PathBuf,
}

impl EnhanceCache {
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::Cache { path: dir.clone(), reason: format!("cannot create it: {e}") })?;
        Ok(EnhanceCache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key(fingerprint: &str, noisy: &[f32]) -> String {
        let mut h = Sha256::new();
        h.update(fingerprint.as_bytes());
        h.update([0u8]);
        h.update((noisy.len() as u64).to_le_bytes());
        for v in noisy {
            h.update(v.to_le_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn path(&self, key: &str) -> PathBuf {
        // Two-character fan-out keeps folders small on corpus-sized caches.
        self.dir.join(&key[..2]).join(format!("{key}.f32"))
    }

    /// The cached samples, or None when absent or damaged.
    pub fn get(&self, key: &str) -> Option<Vec<f32>> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        if bytes.len() < HEADER || &bytes[..8] != MAGIC || u32::from_le_bytes(bytes[8..12].try_into().ok()?) != VERSION {
            return None;
        }
        let n = u64::from_le_bytes(bytes[12..20].try_into().ok()?);
        let crc = u32::from_le_bytes(bytes[20..24].try_into().ok()?);
        let body = &bytes[HEADER..];
        if Some(body.len() as u64) != n.checked_mul(4) || crc32fast::hash(body) != crc {
            return None;
        }
        Some(body.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
    }

    pub fn put(&self, key: &str, samples: &[f32]) -> Result<()> {
        let path = self.path(key);
        let parent = path.parent().expect("entries live in a fan-out folder");
        let fail = |what: &str, e: std::io::Error| Error::Cache { path: path.clone(), reason: format!("{what}: {e}") };
        std::fs::create_dir_all(parent).map_err(|e| fail("cannot create its folder", e))?;
        let mut bytes = Vec::with_capacity(HEADER + samples.len() * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&(samples.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        for v in samples {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let crc = crc32fast::hash(&bytes[HEADER..]);
        bytes[20..24].copy_from_slice(&crc.to_le_bytes());
        write_atomic(&path, &bytes, Durability::Atomic).map_err(|e| fail("cannot write it", e))
    }

    /// Enhances `noisy`, reading the result from the cache when present. Returns the samples and whether
    /// they came from the cache.
    pub fn enhance(&self, enhancer: &mut dyn Enhancer, noisy: &[f32]) -> Result<(Vec<f32>, bool)> {
        let key = Self::key(&enhancer.fingerprint(), noisy);
        if let Some(hit) = self.get(&key) {
            return Ok((hit, true));
        }
        let out = enhancer.enhance(noisy)?;
        self.put(&key, &out)?;
        Ok((out, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Halve(usize);

    impl Enhancer for Halve {
        fn name(&self) -> &str {
            "halve"
        }
        fn enhance(&mut self, noisy: &[f32]) -> Result<Vec<f32>> {
            self.0 += 1;
            Ok(noisy.iter().map(|v| v * 0.5).collect())
        }
        fn fingerprint(&self) -> String {
            "halve/v1".into()
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("trnet-cache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn second_call_is_a_hit_and_identical() {
        let dir = temp_dir("hit");
        let cache = EnhanceCache::open(&dir).unwrap();
        let mut e = Halve(0);
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).sin()).collect();
        let (a, hit_a) = cache.enhance(&mut e, &x).unwrap();
        let (b, hit_b) = cache.enhance(&mut e, &x).unwrap();
        assert_eq!((hit_a, hit_b, e.0), (false, true, 1));
        assert_eq!(a, b);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_change_with_the_fingerprint_and_the_input() {
        let x = [0.1f32, 0.2];
        let k = EnhanceCache::key("gtcrn/v1/abc", &x);
        assert_ne!(k, EnhanceCache::key("gtcrn/v1/abd", &x));
        assert_ne!(k, EnhanceCache::key("gtcrn/v1/abc", &[0.1, 0.2000001]));
        assert_ne!(EnhanceCache::key("a", &[]), EnhanceCache::key("a", &[0.0]));
    }

    #[test]
    fn a_damaged_entry_is_a_miss_and_gets_rewritten() {
        let dir = temp_dir("damaged");
        let cache = EnhanceCache::open(&dir).unwrap();
        let mut e = Halve(0);
        let x = vec![0.5f32; 64];
        cache.enhance(&mut e, &x).unwrap();
        let key = EnhanceCache::key(&e.fingerprint(), &x);
        let path = cache.path(&key);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(cache.get(&key).is_none());
        let (out, hit) = cache.enhance(&mut e, &x).unwrap();
        assert!(!hit);
        assert_eq!(out, vec![0.25f32; 64]);
        assert!(cache.get(&key).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flipped_bytes_in_an_entry_are_a_miss_and_the_entry_is_rewritten() {
        let dir = temp_dir("flipped");
        let cache = EnhanceCache::open(&dir).unwrap();
        let mut e = Halve(0);
        let x: Vec<f32> = (0..4000).map(|i| (i as f32 * 0.003).cos()).collect();
        let expected: Vec<f32> = x.iter().map(|v| v * 0.5).collect();
        cache.enhance(&mut e, &x).unwrap();
        let key = EnhanceCache::key(&e.fingerprint(), &x);
        let path = cache.path(&key);
        let good = std::fs::read(&path).unwrap();
        // Bytes in the middle of the samples, size unchanged (issue 11, case 2): one makes a NaN
        // (exponent bits all set), another merely changes a value.
        let mut bad = good.clone();
        let mid = HEADER + 2000 * 4;
        bad[mid + 3] = 0x7f;
        bad[mid + 2] = 0xc0;
        bad[mid + 41] ^= 0x01;
        assert_eq!(bad.len(), good.len());
        std::fs::write(&path, &bad).unwrap();
        assert!(cache.get(&key).is_none());
        let (out, hit) = cache.enhance(&mut e, &x).unwrap();
        assert!(!hit, "a damaged entry must not be reported as cached");
        assert_eq!(out, expected);
        assert_eq!(e.0, 2, "the enhancer ran again");
        // Rewritten whole: the next call is a hit with the right samples.
        assert_eq!(std::fs::read(&path).unwrap(), good);
        let (again, hit) = cache.enhance(&mut e, &x).unwrap();
        assert!(hit);
        assert_eq!(again, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_writers_of_one_entry_all_succeed_and_leave_a_whole_file() {
        let dir = temp_dir("race");
        let x: Vec<f32> = (0..50_000).map(|i| i as f32).collect();
        let key = EnhanceCache::key("race", &x);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let cache = EnhanceCache::open(&dir).unwrap();
                    for _ in 0..20 {
                        cache.put(&key, &x).unwrap();
                        // A reader racing the writers sees the whole entry or nothing, never a torn one.
                        if let Some(v) = cache.get(&key) {
                            assert_eq!(v.len(), x.len());
                        }
                    }
                });
            }
        });
        assert_eq!(EnhanceCache::open(&dir).unwrap().get(&key).unwrap(), x);
        let leftovers = std::fs::read_dir(dir.join(&key[..2])).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp")).count();
        assert_eq!(leftovers, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
