//! Resident memory must not grow with the number of epochs. Alone in its own test binary (so no other test
//! allocates in the process while it measures), on spectrograms big enough that leaking one batch per step
//! would show: 200 frames × 80 bins, 96 items, batches of 32 (about 2 MB per stacked tensor).

mod common;

use common::*;
use std::cell::RefCell;
use trnet_model::{ModelConfig, Variant};
use trnet_train::{TrainConfig, TrainHooks, TrainProgress, train};

#[test]
fn resident_memory_stays_flat_across_epochs() {
    let (frames, bins) = (200, 80);
    let train_set = synthetic_sized(32, 21, frames, bins);
    let val_set = synthetic_sized(8, 22, frames, bins);
    let model = |variant| ModelConfig { variant, n_mels: bins, channels: vec![4, 8], num_classes: CLASSES, ..Default::default() };
    let config = |epochs| TrainConfig { epochs, batch_size: 32, device: "cpu".into(), ..Default::default() };
    let dir = TempDir::new("memory");
    let reference = train(&config(1), &model(Variant::BaselineClean), &train_set, &val_set, None, &dir.join("ref"), &TrainHooks::NONE).unwrap();

    let rss = RefCell::new(Vec::new());
    let on_progress = |p: TrainProgress| {
        if p.stage == trnet_train::Stage::Epoch {
            rss.borrow_mut().push(rss_kib());
        }
    };
    let epochs = 16;
    train(
        &config(epochs),
        &model(Variant::Trnet),
        &train_set,
        &val_set,
        Some(&reference.best_dir),
        &dir.join("run"),
        &TrainHooks { on_progress: &on_progress, cancelled: &|| false },
    )
    .unwrap();
    let rss = rss.into_inner();
    assert_eq!(rss.len(), epochs);
    // RSS swings by tens of MB from epoch to epoch (glibc returns and re-takes freed pages, libtorch's
    // allocations come and go), so single readings are compared by their floor: the lowest reading of
    // epochs 3–8 against the lowest of epochs 11–16. A leak raises the floor; 16 MiB over 8 epochs is far
    // below one leaked batch per step (3 steps × 3 tensors × 2 MB × 8 epochs ≈ 150 MB).
    let floor = |range: std::ops::Range<usize>| rss[range].iter().copied().min().unwrap();
    let growth_kib = floor(10..16) - floor(2..8);
    eprintln!("VmRSS after each epoch (KiB): {rss:?}; floor growth: {growth_kib} KiB");
    assert!(growth_kib < 16 * 1024, "the RSS floor rose by {growth_kib} KiB between epochs 3–8 and 11–16: {rss:?}");
}
