//! The audio-to-features half of a prediction job (issue 13), run on one of a loaded model's job threads
//! (src/model.rs): decoding and the cut to what the model's frames read, the SE front end, the waveform scale and
//! the fbank of the input and of the SE output, with each stage's wall and CPU time.

use crate::audio::{AudioInput, input_at_16k};
use crate::errors::Failure;
use std::sync::Arc;
use trnet_dsp::batch::BatchControl;
use trnet_enhance::EnhancerPool;
use trnet_train::predict::PredictInput;

/// Wall-clock and process CPU time since the last lap.
pub(crate) struct StageClock {
    wall: std::time::Instant,
    cpu_ms: f64,
}

pub(crate) struct Lap {
    pub ms: f64,
    pub cpu_ms: f64,
}

impl StageClock {
    pub fn start() -> Self {
        StageClock { wall: std::time::Instant::now(), cpu_ms: process_cpu_ms() }
    }

    pub fn lap(&mut self) -> Lap {
        let next = StageClock::start();
        let lap = Lap { ms: (next.wall - self.wall).as_secs_f64() * 1e3, cpu_ms: next.cpu_ms - self.cpu_ms };
        *self = next;
        lap
    }
}

fn process_cpu_ms() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid out-pointer; on failure `t` stays zero (the stage then reads 0).
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
}

/// The network's inputs for a batch of waveforms: `x` of each, and `xe` of each for the variants that read it.
pub(crate) struct NetworkInputs {
    pub x: Vec<Vec<f32>>,
    pub xe: Vec<Vec<f32>>,
}

impl NetworkInputs {
    pub fn inputs(&self) -> Vec<PredictInput<'_>> {
        self.x.iter().enumerate().map(|(i, x)| PredictInput { x, xe: self.xe.get(i).map(|v| &v[..]) }).collect()
    }
}

/// The audio-to-features half of a prediction job (`NativeModel::front_end`).
pub(crate) struct FrontEnd {
    pub pool: Option<Arc<EnhancerPool>>,
    pub fbank: trnet_dsp::fbank::FbankOptions,
    pub scale: f64,
    /// 16 kHz samples the model's frames read (None: all).
    pub keep: Option<usize>,
}

impl FrontEnd {
    /// Decoding and the cut, SE front end, waveform scale and fbank of the inputs and of their SE outputs; the
    /// laps of the decode, SE and fbank stages.
    pub fn network_inputs(&self, inputs: &[AudioInput], clock: &mut StageClock) -> Result<(NetworkInputs, [Lap; 3]), Failure> {
        let decoded = inputs.iter().enumerate().map(|(i, input)| input_at_16k(input, i, self.keep)).collect::<Result<Vec<_>, _>>()?;
        let waves: Vec<&[f32]> = decoded.iter().map(|w| &w[..self.keep.map_or(w.len(), |k| k.min(w.len()))]).collect();
        let decode = clock.lap();
        let enhanced = match &self.pool {
            Some(pool) => enhance_all(pool, &waves)?,
            None => Vec::new(),
        };
        let enhance = clock.lap();
        let mut x = fbank_all(&self.fbank, self.scale, &waves, &enhanced)?;
        let xe = x.split_off(waves.len());
        Ok((NetworkInputs { x, xe }, [decode, enhance, clock.lap()]))
    }
}

/// The SE front end's output for each waveform: one input on this thread, several on all cores. A failure names
/// its input.
pub(crate) fn enhance_all(pool: &EnhancerPool, waves: &[&[f32]]) -> Result<Vec<Vec<f32>>, Failure> {
    let results = match waves {
        [one] => vec![pool.enhance(one)],
        _ => pool.enhance_batch(waves, &BatchControl::NONE).into_iter().map(|r| r.expect("no cancellation")).collect(),
    };
    let named = |i: usize, f: Failure| Failure { message: format!("input {i}: the SE front end failed: {}", f.message), ..f };
    results.into_iter().enumerate().map(|(i, r)| r.map(|e| e.samples).map_err(|e| named(i, e.into()))).collect()
}

/// The fbank of every input and then of every SE output (scaled by `scale` first, in f64 as JavaScript
/// did), each as frames × bins. The two of one prediction on this thread; more on all cores.
fn fbank_all(opts: &trnet_dsp::fbank::FbankOptions, scale: f64, waves: &[&[f32]], enhanced: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, Failure> {
    let all: Vec<&[f32]> = waves.iter().copied().chain(enhanced.iter().map(|e| &e[..])).collect();
    let scaled: Vec<Vec<f32>> =
        if scale == 1.0 { Vec::new() } else { all.iter().map(|w| w.iter().map(|&v| (f64::from(v) * scale) as f32).collect()).collect() };
    let all: Vec<&[f32]> = if scale == 1.0 { all } else { scaled.iter().map(|w| &w[..]).collect() };
    let results = if all.len() <= 2 { trnet_dsp::fbank::compute_here(opts, &all) } else { trnet_dsp::fbank::compute_batch(opts, &all) };
    let named = |i: usize, f: Failure| Failure { message: format!("input {}: no features: {}", i % waves.len(), f.message), ..f };
    results.into_iter().enumerate().map(|(i, r)| r.map(|f| f.data).map_err(|e| named(i, e.into()))).collect()
}
