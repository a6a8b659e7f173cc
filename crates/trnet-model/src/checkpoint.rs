//! Checkpoints: a folder holding `model.safetensors` (every variable of the var store, BatchNorm running
//! stats included, by PyTorch-style name), `config.json` (the `ModelConfig` that builds the model) and
//! `checksums.json` (the SHA-256 of each safetensors file in the folder, written after them).
//!
//! Loading verifies a file against `checksums.json` before parsing it, so weights that changed on disk
//! (a flipped byte, a truncated copy) are refused with TRNET_CHECKPOINT_CORRUPT instead of being used
//! silently. A folder without `checksums.json` (weights exported by other tools) loads unverified; a file
//! that cannot be parsed is still TRNET_CHECKPOINT_CORRUPT, never a bare libtorch error.
//!
//! Each file is written atomically (`trnet_dsp::files`, durability `Synced`): to a temporary file in the same
//! folder, fsynced, then renamed over the target, and the folder is fsynced so the rename itself survives a
//! crash. A reader never sees a torn file. The renames are not one transaction: after a crash between them
//! the folder can hold new weights beside the old config or checksums, and `load` then refuses with a
//! mismatch or corrupt error (a run's `best/` and `last/` are written into a fresh folder and swapped whole,
//! so they never are).
//!
//! Loading is strict: every variable the config's model has must be in the file with the same shape and
//! type, and the file may hold nothing else. Values are copied bit for bit.

use crate::config::ModelConfig;
use crate::trnet::TrnetModel;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Tensor};
use trnet_dsp::Detail;
use trnet_dsp::files::{AtomicFile, Durability, write_atomic};

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const CHECKSUMS_FILE: &str = "checksums.json";

const FIX_CORRUPT: &str =
    "The file changed after trnet wrote it (disk or copy damage, truncation, or an edit): restore the folder from a copy, or train the model again.";

/// A model rebuilt from a checkpoint, with the var store that owns its parameters.
#[derive(Debug)]
pub struct Checkpoint {
    pub config: ModelConfig,
    pub vs: VarStore,
    pub model: TrnetModel,
}

/// Writes `vs` (which must hold exactly the model `config` builds, at its root) and `config` into `dir`,
/// creating the folder if needed.
pub fn save(dir: &Path, vs: &VarStore, config: &ModelConfig) -> Result<()> {
    config.validate()?;
    std::fs::create_dir_all(dir).map_err(Error::io("creating checkpoint folder", dir))?;
    let weights = dir.join(WEIGHTS_FILE);
    let tmp_weights = AtomicFile::create(&weights, Durability::Synced).map_err(Error::io("creating a temporary file for", &weights))?;
    // Sorted, so the same model always gives the same file.
    let named: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let named: Vec<(&str, &Tensor)> = named.iter().map(|(k, v)| (k.as_str(), v)).collect();
    Tensor::write_safetensors(&named, tmp_weights.temp_path()).map_err(Error::torch(format!("writing {}", tmp_weights.temp_path().display())))?;
    let json = dir.join(CONFIG_FILE);
    let mut tmp_json = AtomicFile::create(&json, Durability::Synced).map_err(Error::io("creating a temporary file for", &json))?;
    let text = config.to_json() + "\n";
    tmp_json.file().write_all(text.as_bytes()).map_err(Error::io("writing", &json))?;
    // Both files are whole on disk before either is renamed into place (dropping them on an error above
    // removes the temporary files).
    tmp_weights.commit().map_err(Error::io("moving into place", &weights))?;
    tmp_json.commit().map_err(Error::io("moving into place", &json))?;
    record_checksums(dir, &[WEIGHTS_FILE])
}

/// `checksums.json`: the SHA-256 of each listed file of its folder.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Checksums {
    /// Hex SHA-256 by file name.
    sha256: BTreeMap<String, String>,
}

/// Hex SHA-256 of a file's bytes, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| not_found_or_io(e, path, "opening"))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(Error::io("reading", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `dir/checksums.json` with the SHA-256 of `files` (names in `dir`), replacing any earlier one, and
/// fsyncs the file and the folder. Call it after the files are complete.
pub fn record_checksums(dir: &Path, files: &[&str]) -> Result<()> {
    let mut sha256 = BTreeMap::new();
    for name in files {
        sha256.insert(name.to_string(), sha256_file(&dir.join(name))?);
    }
    let text = serde_json::to_string_pretty(&Checksums { sha256 }).expect("checksums serialise");
    let path = dir.join(CHECKSUMS_FILE);
    write_atomic(&path, (text + "\n").as_bytes(), Durability::Synced).map_err(Error::io("writing", &path))
}

/// Checks `path` against the `checksums.json` beside it. Without that file there is nothing to check
/// against (a checkpoint from other tools) and this passes; with it, the file must be listed and match.
pub fn verify_file(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let manifest = dir.join(CHECKSUMS_FILE);
    let text = match std::fs::read_to_string(&manifest) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("reading", &manifest)(e)),
    };
    let corrupt = |path: &Path, problem: String| Error::CheckpointCorrupt { path: path.to_path_buf(), problem, fix: FIX_CORRUPT.into() };
    let sums: Checksums = serde_json::from_str(&text).map_err(|e| corrupt(&manifest, format!("it cannot be read ({e})")))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let expected = sums
        .sha256
        .get(&name)
        .ok_or_else(|| corrupt(path, format!("it is not listed in {CHECKSUMS_FILE} beside it, so it was not written with this checkpoint")))?;
    let found = sha256_file(path)?;
    if found != *expected {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        return Err(corrupt(path, format!("its SHA-256 is {found} ({size} bytes), but {CHECKSUMS_FILE} recorded {expected}")));
    }
    Ok(())
}

/// Reads a safetensors file after verifying it (`verify_file`); a file that does not parse is corrupt.
pub fn read_safetensors_verified(path: &Path) -> Result<Vec<(String, Tensor)>> {
    verify_file(path)?;
    Tensor::read_safetensors(path).map_err(|e| Error::CheckpointCorrupt {
        path: path.to_path_buf(),
        problem: format!("it is not a readable safetensors file (truncated or overwritten?): {e}"),
        fix: FIX_CORRUPT.into(),
    })
}

/// Reads `dir/config.json`, builds that model on `device` and loads `dir/model.safetensors` into it.
pub fn load(dir: &Path, device: Device) -> Result<Checkpoint> {
    let config = read_config(dir)?;
    let mut vs = VarStore::new(device);
    // The build draws initial weights (overwritten below) from libtorch's global generator: under its lock.
    let model = crate::rng::with_global_rng(|| TrnetModel::new(&vs.root(), &config))?;
    load_weights(&mut vs, &dir.join(WEIGHTS_FILE))?;
    Ok(Checkpoint { config, vs, model })
}

/// Reads and validates `dir/config.json`.
pub fn read_config(dir: &Path) -> Result<ModelConfig> {
    read_config_file(&dir.join(CONFIG_FILE))
}

/// Reads and validates a `ModelConfig` JSON file; errors name the file.
pub fn read_config_file(path: &Path) -> Result<ModelConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| not_found_or_io(e, path, "reading"))?;
    ModelConfig::from_json(&text).map_err(|e| match e {
        Error::InvalidConfig(d) => Error::InvalidConfig(Detail { what: format!("{} (in {})", d.what, path.display()), ..d }),
        other => other,
    })
}

/// Copies the tensors of a safetensors file into the variables of `vs` with the same names. Every
/// variable must be present with its shape and type, and the file may hold no other tensor.
pub fn load_weights(vs: &mut VarStore, path: &Path) -> Result<()> {
    if !path.is_file() {
        return Err(Error::CheckpointNotFound { path: path.to_path_buf(), fix: fix_missing() });
    }
    let file: HashMap<String, Tensor> = read_safetensors_verified(path)?.into_iter().collect();
    let vars = vs.variables();
    let mismatch = |tensor: &str, expected: String, found: String, fix: &str| Error::CheckpointMismatch {
        path: path.to_path_buf(),
        tensor: tensor.to_string(),
        expected,
        found,
        fix: fix.to_string(),
    };
    const FIX: &str = "The config beside these weights does not describe them: load them with the config they were saved with.";
    // Check everything before copying anything, so a refused file leaves the store untouched.
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in &names {
        let var = &vars[*name];
        let src = file.get(*name).ok_or_else(|| mismatch(name, format!("shape {:?}", var.size()), "no such tensor".into(), FIX))?;
        if src.size() != var.size() {
            return Err(mismatch(name, format!("shape {:?}", var.size()), format!("shape {:?}", src.size()), FIX));
        }
        if src.kind() != var.kind() {
            return Err(mismatch(
                name,
                format!("{:?} values", var.kind()),
                format!("{:?}", src.kind()),
                "Convert the var store (vs.float() / vs.double()) to the saved type before loading.",
            ));
        }
    }
    let mut extra: Vec<&String> = file.keys().filter(|k| !vars.contains_key(*k)).collect();
    extra.sort();
    if let Some(name) = extra.first() {
        return Err(mismatch(
            name,
            "no such tensor in this model".into(),
            format!("shape {:?} ({} unexpected tensor(s) in all)", file[*name].size(), extra.len()),
            FIX,
        ));
    }
    tch::no_grad(|| -> Result<()> {
        for name in names {
            let mut var = vars[name].shallow_clone();
            var.f_copy_(&file[name]).map_err(Error::torch(format!("copying {name} into the model")))?;
        }
        Ok(())
    })
}

fn fix_missing() -> String {
    format!("Pass the folder that checkpoint::save wrote; it holds {WEIGHTS_FILE} and {CONFIG_FILE}.")
}

fn not_found_or_io(e: std::io::Error, path: &Path, during: &str) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::CheckpointNotFound { path: path.to_path_buf(), fix: fix_missing() }
    } else {
        Error::io(during, path)(e)
    }
}
