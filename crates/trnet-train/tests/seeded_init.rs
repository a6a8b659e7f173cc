//! A seeded build (a training's initial weights) gives the same weights while another thread loads checkpoints at
//! the same moment: each load builds a model, which draws from libtorch's global generator (trnet_model::rng).
//! With two trainings in one process (`tasksPerDevice` 2), such a load once changed the other task's weights.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tch::Device;
use tch::nn::VarStore;
use trnet_model::{ModelConfig, TrnetModel, Variant, checkpoint};
use trnet_train::seed::with_torch_seed;

fn weights(vs: &VarStore) -> Vec<(String, Vec<f32>)> {
    let mut all: Vec<(String, Vec<f32>)> =
        vs.variables().into_iter().map(|(name, t)| (name, Vec::<f32>::try_from(t.flatten(0, -1)).expect("float weights"))).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[test]
fn a_seeded_build_is_not_disturbed_by_checkpoints_loaded_meanwhile() {
    let config = ModelConfig { channels: vec![8, 8], ..ModelConfig::paper(Variant::Trnet) };
    let build = |seed: u64| {
        let vs = VarStore::new(Device::Cpu);
        with_torch_seed(seed, || TrnetModel::new(&vs.root(), &config)).expect("the model builds");
        vs
    };
    let expected = weights(&build(11));
    let dir = std::env::temp_dir().join(format!("trnet-seeded-init-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    checkpoint::save(&dir, &build(1), &config).unwrap();

    let stop = AtomicBool::new(false);
    let loads = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                checkpoint::load(&dir, Device::Cpu).expect("the checkpoint loads");
                loads.fetch_add(1, Ordering::Relaxed);
            }
        });
        // At least 40 seeded builds and 20 loads overlapping them (the loader may wait for the lock a while).
        let started = std::time::Instant::now();
        let mut round = 0;
        while round < 40 || loads.load(Ordering::Relaxed) < 20 {
            let got = weights(&build(11));
            if got != expected || started.elapsed().as_secs() > 60 {
                stop.store(true, Ordering::Relaxed);
                assert!(got == expected, "round {round}: the seeded weights changed while checkpoints were being loaded");
                panic!("only {} loads in 60 s of seeded builds", loads.load(Ordering::Relaxed));
            }
            round += 1;
        }
        stop.store(true, Ordering::Relaxed);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
