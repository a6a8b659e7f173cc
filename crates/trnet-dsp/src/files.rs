//! Writing files so that no reader ever sees half of one: the one way every trnet crate writes a file
//! (checkpoints, run state, enhancement cache entries, WAV output).
//!
//! The content goes to a uniquely named temporary file in the target's own folder (`tempfile`'s
//! `NamedTempFile`: a random name, created exclusively, so no two writers — threads or processes — share
//! one), which is then renamed over the target. A rename within one folder is atomic: readers see the old
//! file or the new one, and two writers of the same target both succeed, the last rename winning. On any
//! failure the temporary file is removed and the target is left as it was. Temporary names start with the
//! target's name after a dot (`.config.json.XXXXXX.tmp`), so they are hidden and easy to attribute.
//!
//! Feature stores and run checkpoints publish whole folders instead: a temporary folder, named by
//! [`temp_sibling`], is filled (its files written directly) and renamed into place (see
//! `trnet_train::store` and `trnet_train::run`). `NamedTempFile` cannot do that for folders, and these names
//! carry the writer's process id so that a later process can remove what a killed one left
//! ([`left_by_dead_process`]).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tempfile::NamedTempFile;

/// What a finished write survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The file is fsynced before the rename and its folder after it, so the new file survives a crash or
    /// power cut. For files that cannot be made again: checkpoints, run state.
    Synced,
    /// Atomic for readers, but a crash soon after may lose the new file. For files that are checked when read
    /// or cheap to make again (cache entries, WAV output), where an fsync per file would cost more than it saves.
    Atomic,
}

/// A file being written in place of `target`; invisible there until [`AtomicFile::commit`]. Dropping it
/// uncommitted removes the temporary file.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: NamedTempFile,
    durability: Durability,
}

impl AtomicFile {
    /// Creates the temporary file next to `target` (whose folder must exist).
    pub fn create(target: &Path, durability: Durability) -> io::Result<Self> {
        let folder = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = target.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} names no file", target.display())))?;
        // Mode 0666 less the umask, as `File::create` gives (tempfile's own default, 0600, would make the
        // finished checkpoint or WAV unreadable to the user's group).
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tmp")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(folder)?;
        Ok(AtomicFile { target: target.to_path_buf(), temp, durability })
    }

    /// The temporary file's path, for writers that take a path (e.g. libtorch's safetensors writer).
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Moves the file into place (with the fsyncs its durability asks for).
    pub fn commit(self) -> io::Result<()> {
        if self.durability == Durability::Synced {
            // Opened again by path: a writer that took `temp_path` may have written through its own handle.
            File::open(self.temp.path())?.sync_all()?;
        }
        self.temp.persist(&self.target).map_err(|e| e.error)?;
        if self.durability == Durability::Synced
            && let Some(folder) = self.target.parent().filter(|p| !p.as_os_str().is_empty())
        {
            File::open(folder)?.sync_all()?;
        }
        Ok(())
    }
}

/// Writes `bytes` to `target` atomically (module docs).
pub fn write_atomic(target: &Path, bytes: &[u8], durability: Durability) -> io::Result<()> {
    let mut file = AtomicFile::create(target, durability)?;
    file.file().write_all(bytes)?;
    file.commit()
}

/// A fresh path beside `target` for a temporary folder that will become `target`, or that `target` is moved
/// aside into: `.{tag}-{name}-{pid}-{n}`. The process id keeps processes apart, the counter threads and calls.
pub fn temp_sibling(target: &Path, tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!(".{tag}-{name}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// Whether `name` is a [`temp_sibling`] name with `tag` whose process no longer runs (its pid is not in
/// /proc). False when that cannot be known (no /proc), so nothing of a live writer is ever taken for dead.
pub fn left_by_dead_process(name: &str, tag: &str) -> bool {
    if !name.starts_with(&format!(".{tag}-")) || !Path::new("/proc/self").exists() {
        return false;
    }
    let pid = name.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
    pid.is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("trnet-files-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn writes_replace_whole_files_and_leave_no_temporary_files() {
        let dir = temp_dir("replace");
        let target = dir.join("a.json");
        write_atomic(&target, b"first", Durability::Synced).unwrap();
        write_atomic(&target, b"second, longer", Durability::Atomic).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"second, longer");
        assert_eq!(names(&dir), ["a.json"]);
        // The same permissions as a file made with File::create.
        use std::os::unix::fs::PermissionsExt;
        File::create(dir.join("plain")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), mode(&dir.join("plain")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_uncommitted_file_never_appears_and_is_cleaned_up() {
        let dir = temp_dir("uncommitted");
        let target = dir.join("b.bin");
        let mut f = AtomicFile::create(&target, Durability::Synced).unwrap();
        f.file().write_all(b"partial").unwrap();
        assert!(!target.exists());
        assert!(f.temp_path().file_name().unwrap().to_string_lossy().starts_with(".b.bin."));
        drop(f);
        assert_eq!(names(&dir), Vec::<String>::new());
        // A missing folder is an error, not a file somewhere else.
        assert_eq!(write_atomic(&dir.join("no/such/c"), b"x", Durability::Atomic).unwrap_err().kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_folder_names_are_unique_and_tell_dead_writers_from_live_ones() {
        let target = Path::new("/x/store");
        let (a, b) = (temp_sibling(target, "building"), temp_sibling(target, "building"));
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!(".building-store-{}-", std::process::id())), "{name}");
        assert_eq!(a.parent(), Some(Path::new("/x")));
        assert!(!left_by_dead_process(&name, "building"), "this process runs");
        assert!(left_by_dead_process(".building-store-4294967295-0", "building"));
        assert!(!left_by_dead_process(".building-store-4294967295-0", "damaged"));
        assert!(!left_by_dead_process("store", "building"));
    }

    #[test]
    fn concurrent_writers_of_one_file_all_succeed_and_leave_one_whole_file() {
        let dir = temp_dir("race");
        let target = dir.join("c.bin");
        std::thread::scope(|s| {
            for k in 0..8u8 {
                let target = &target;
                s.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(target, &vec![k; 100_000], Durability::Atomic).unwrap();
                        let seen = std::fs::read(target).unwrap();
                        assert!(seen.len() == 100_000 && seen.iter().all(|&b| b == seen[0]), "a torn file");
                    }
                });
            }
        });
        assert_eq!(names(&dir), ["c.bin"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
