//! Issue 11, cases 2 and 3: a run folder's files are verified when loaded (checkpoint checksums, the state
//! checked against its config, last/config.json checked against the state), and one folder has one writer.

mod common;

use common::*;
use std::path::Path;
use tch::Device;
use trnet_model::{Variant, checkpoint};
use trnet_train::{TrainConfig, TrainHooks, resume, train};

/// A finished two-epoch TRNet run in a fresh folder.
fn finished_run(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    train(&tiny_train(2), &tiny_model(Variant::Trnet), train_set(), val_set(), Some(reference()), dir.path(), &TrainHooks::NONE).unwrap();
    assert!(!dir.join("run.lock").exists(), "the lock is released when the call returns");
    dir
}

/// Resuming with two more epochs, as a user continuing the run would.
fn resume_longer(dir: &Path) -> trnet_train::Result<trnet_train::TrainReport> {
    resume(&tiny_train(4), train_set(), val_set(), Some(reference()), dir, &TrainHooks::NONE)
}

fn flip_middle_byte(path: &Path) {
    let mut b = bytes(path);
    let mid = b.len() / 2;
    b[mid] ^= 0x08;
    std::fs::write(path, b).unwrap();
}

fn edit_state(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("last/state.json");
    let mut v: serde_json::Value = serde_json::from_slice(&bytes(&path)).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

#[test]
fn changed_checkpoint_files_are_refused_with_checkpoint_corrupt() {
    let dir = finished_run("integrity-weights");
    for f in ["best/checksums.json", "last/checksums.json"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    // best/model.safetensors with a byte flipped: evaluation cannot load it.
    flip_middle_byte(&dir.join("best/model.safetensors"));
    let e = checkpoint::load(&dir.join("best"), Device::Cpu).unwrap_err();
    assert_eq!(e.code(), "TRNET_CHECKPOINT_CORRUPT");
    assert!(e.to_string().contains("best/model.safetensors"), "{e}");

    // last/optimizer.safetensors with a byte flipped: resume refuses it.
    let saved = bytes(&dir.join("last/optimizer.safetensors"));
    flip_middle_byte(&dir.join("last/optimizer.safetensors"));
    let e = resume_longer(dir.path()).unwrap_err();
    assert_eq!(e.code(), "TRNET_CHECKPOINT_CORRUPT", "{e}");
    assert!(e.to_string().contains("optimizer.safetensors") && e.to_string().contains("SHA-256"), "{e}");
    std::fs::write(dir.join("last/optimizer.safetensors"), saved).unwrap();

    // last/model.safetensors truncated: a checkpoint error with a fix, not TRNET_TORCH.
    let weights = dir.join("last/model.safetensors");
    let whole = bytes(&weights);
    std::fs::write(&weights, &whole[..whole.len() / 3]).unwrap();
    let e = resume_longer(dir.path()).unwrap_err();
    assert_eq!(e.code(), "TRNET_CHECKPOINT_CORRUPT", "{e}");
    assert!(e.to_string().contains("restore the folder"), "{e}");
    std::fs::write(&weights, &whole).unwrap();

    // Restored, the run resumes.
    assert_eq!(resume_longer(dir.path()).unwrap().epochs_run, 4);
}

#[test]
fn an_edited_state_or_config_is_refused_and_resume_reads_last_config() {
    let dir = finished_run("integrity-state");
    let state = bytes(&dir.join("last/state.json"));

    edit_state(dir.path(), |v| v["epoch"] = 99.into());
    let e = resume_longer(dir.path()).unwrap_err();
    assert_eq!(e.code(), "TRNET_CHECKPOINT_CORRUPT", "{e}");
    assert!(e.to_string().contains("epoch 99") && e.to_string().contains("state.json"), "{e}");

    // Within the configured epochs, but not what the history says.
    std::fs::write(dir.join("last/state.json"), &state).unwrap();
    edit_state(dir.path(), |v| v["epoch"] = 1.into());
    let e = resume_longer(dir.path()).unwrap_err();
    assert_eq!(e.code(), "TRNET_CHECKPOINT_CORRUPT", "{e}");
    assert!(e.to_string().contains("history"), "{e}");

    std::fs::write(dir.join("last/state.json"), &state).unwrap();
    edit_state(dir.path(), |v| v["globalStep"] = 1.into());
    assert_eq!(resume_longer(dir.path()).unwrap_err().code(), "TRNET_CHECKPOINT_CORRUPT");

    // last/config.json that is not the model the state was written for.
    std::fs::write(dir.join("last/state.json"), &state).unwrap();
    let config_path = dir.join("last/config.json");
    let config = bytes(&config_path);
    let mut other = tiny_model(Variant::Trnet);
    other.alpha = 0.25;
    std::fs::write(&config_path, other.to_json()).unwrap();
    let e = resume_longer(dir.path()).unwrap_err();
    assert_eq!(e.code(), "TRNET_CHECKPOINT_CORRUPT", "{e}");
    assert!(e.to_string().contains("config.json"), "{e}");
    std::fs::write(&config_path, config).unwrap();
    assert!(resume_longer(dir.path()).is_ok());
}

#[test]
fn two_trainings_into_one_folder_one_wins_and_the_folder_is_consistent() {
    let dir = TempDir::new("integrity-race");
    let model = tiny_model(Variant::BaselineNoisy);
    let results: Vec<(u64, trnet_train::Result<trnet_train::TrainReport>)> = std::thread::scope(|s| {
        let handles: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|seed| {
                let (dir, model) = (dir.path(), &model);
                s.spawn(move || (seed, train(&TrainConfig { seed, ..tiny_train(2) }, model, train_set(), val_set(), None, dir, &TrainHooks::NONE)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<u64> = results.iter().filter(|(_, r)| r.is_ok()).map(|(s, _)| *s).collect();
    assert_eq!(won.len(), 1, "exactly one training owns the folder");
    let lost = results.iter().find(|(_, r)| r.is_err()).unwrap();
    let e = lost.1.as_ref().unwrap_err();
    // The loser either met the lock or, if the winner had already finished, the finished run.
    assert!(matches!(e.code(), "TRNET_RUN_LOCKED" | "TRNET_RUN_EXISTS"), "{e}");
    let seed_in = |f: &str, pointer: &str| -> u64 {
        let v: serde_json::Value = serde_json::from_slice(&bytes(&dir.join(f))).unwrap();
        v.pointer(pointer).and_then(|s| s.as_u64()).unwrap_or_else(|| panic!("{f} {pointer}"))
    };
    assert_eq!(seed_in("train-config.json", "/seed"), won[0]);
    assert_eq!(seed_in("last/state.json", "/trainConfig/seed"), won[0]);
    assert!(!dir.join("run.lock").exists());
}

#[test]
fn a_held_lock_refuses_train_and_resume_and_a_stale_one_is_taken_over() {
    let dir = finished_run("integrity-lock");
    let lock = dir.join("run.lock");
    std::fs::write(&lock, r#"{"pid":1,"host":"another-machine"}"#).unwrap();
    let e = resume_longer(dir.path()).unwrap_err();
    assert_eq!(e.code(), "TRNET_RUN_LOCKED");
    assert!(e.to_string().contains("pid 1 on another-machine") && e.to_string().contains("delete"), "{e}");
    let fresh = TempDir::new("integrity-lock-fresh");
    std::fs::create_dir_all(fresh.path()).unwrap();
    std::fs::write(fresh.join("run.lock"), r#"{"pid":1,"host":"another-machine"}"#).unwrap();
    let e = train(&tiny_train(1), &tiny_model(Variant::BaselineNoisy), train_set(), val_set(), None, fresh.path(), &TrainHooks::NONE).unwrap_err();
    assert_eq!(e.code(), "TRNET_RUN_LOCKED");
    assert!(!fresh.join("last").exists(), "nothing written by the refused call");

    // Left by a killed process on this host (its pid does not run): taken over.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    std::fs::write(&lock, format!(r#"{{"pid":4000000000,"host":"{}"}}"#, host.trim())).unwrap();
    assert_eq!(resume_longer(dir.path()).unwrap().epochs_run, 4);
    assert!(!lock.exists());
}
