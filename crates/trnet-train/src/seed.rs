//! Every random choice of a run is a pure function of the run seed, so nothing random has to be saved to
//! resume: the shuffle of epoch e is drawn from `derive(seed, SHUFFLE, e)`, the noise of utterance i in
//! the audio helper from `derive(seed, NOISE, i)`, and the weight initialisation from libtorch's generator
//! seeded with `torch_seed(seed)` under a process-wide lock (see `with_torch_seed`).

use trnet_dsp::rng::SplitMix64;

/// Independent streams drawn from one run seed.
pub const SHUFFLE: u64 = 1;
pub const NOISE: u64 = 2;

/// A seed for item `index` of stream `stream`, mixed through SplitMix64 so nearby inputs give unrelated
/// outputs. Fixed arithmetic: the same inputs give the same seed in every version.
pub fn derive(seed: u64, stream: u64, index: u64) -> u64 {
    let a = SplitMix64::new(seed).next_u64();
    let b = SplitMix64::new(a ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64();
    SplitMix64::new(b ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64()
}

/// libtorch's generator takes an i64; the run seed is a u64 (bits kept).
pub fn torch_seed(seed: u64) -> i64 {
    seed as i64
}

/// Runs `f` with libtorch's global generator freshly seeded, holding the generator's process-wide lock
/// (`trnet_model::rng`), so that nothing else in trnet draws from it meanwhile: not another training's
/// initialisation, not a checkpoint being loaded (which builds its model before reading the weights).
pub fn with_torch_seed<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    trnet_model::rng::with_global_rng(|| {
        tch::manual_seed(torch_seed(seed));
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_are_stable_and_distinct() {
        assert_eq!(derive(1, SHUFFLE, 0), derive(1, SHUFFLE, 0));
        let all: std::collections::HashSet<u64> = (0..100).flat_map(|i| [derive(1, SHUFFLE, i), derive(1, NOISE, i), derive(2, SHUFFLE, i)]).collect();
        assert_eq!(all.len(), 300);
    }
}
