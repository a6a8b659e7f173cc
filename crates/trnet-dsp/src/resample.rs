//! Band-limited resampling of mono f32 audio between fixed rates.
//!
//! Uses rubato's synchronous FFT resampler (`Fft`), not its asynchronous sinc one: our ratio is
//! fixed for a whole clip, and for a fixed ratio the FFT resampler gives the same quality as the
//! best sinc settings at a fraction of the cost. Its anti-aliasing filter is a windowed sinc
//! (Blackman-Harris²) as long as one FFT block (at least 1024 input frames). Measured
//! for 22.05/44.1/48 kHz -> 16 kHz: flat within 0.05 dB up to 7.5 kHz, the transition band lies
//! between 7.5 and 8 kHz, and everything above 8 kHz is attenuated by more than 110 dB.
//!
//! rubato's `process_all` removes the filter's startup delay and `build` sizes the FFT blocks
//! so that this removal is exact, so output sample `k` is the signal at time `k / to_rate`, the
//! same instant as input sample `k * from / to`.

use std::cell::RefCell;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

use crate::Result;
use crate::error::Error;

/// Highest sample rate accepted (768 kHz, the highest rate audio interfaces offer). Rates
/// beyond it are almost surely a unit mistake and would make the FFT plan needlessly large.
pub const MAX_RATE: u32 = 768_000;

/// Smallest FFT block length in input frames (the block is also a whole, even number of
/// `from / gcd(from, to)` frames): long enough for a steep anti-aliasing filter, short enough
/// that the per-block FFTs stay cache-friendly.
const MIN_BLOCK: usize = 1024;

/// Largest sample magnitude resampled (see `resample`).
const MAX_MAGNITUDE: f32 = 1e15;

/// Largest FFT block, in input or output frames, a rate pair may need (see `build`).
const MAX_BLOCK: usize = 1 << 21;

/// Resamples mono `samples` from `from_rate` to `to_rate` Hz.
///
/// The output has `output_len(samples.len(), from_rate, to_rate)` samples, i.e.
/// round(len * to / from), and is time-aligned with the input. Equal rates return a copy.
pub fn resample(samples: &[f32], from_rate: u32, to_rate: u32) -> Result<Vec<f32>> {
    check_rate("from_rate", from_rate)?;
    check_rate("to_rate", to_rate)?;
    if from_rate == to_rate {
        return Ok(samples.to_vec());
    }
    let out_len = output_len(samples.len(), from_rate, to_rate);
    if out_len == 0 {
        return Ok(Vec::new());
    }
    // Finite samples near f32::MAX overflow inside the FFTs (to Inf and NaN, and a panic in rubato). Audio
    // lies within ±1, or ±2³¹ for unscaled integers: anything far beyond is a broken float file.
    if let Some(i) = samples.iter().position(|x| x.is_nan() || x.abs() > MAX_MAGNITUDE) {
        return Err(Error::invalid(
            format!("sample {i} of the audio to resample"),
            format!("a finite value of magnitude at most {MAX_MAGNITUDE:e}"),
            samples[i],
            "The file holds values no audio has (a float WAV written with the wrong scale?); rescale or repair it.",
        ));
    }
    let mut out = with_resampler(from_rate, to_rate, |resampler| run(resampler, samples))?;
    // rubato yields ceil(len * ratio) frames; our contract is the rounded length.
    out.resize(out_len, 0.0);
    Ok(out)
}

/// Output length for `len` input samples: round(len * to / from), halves rounded up.
pub fn output_len(len: usize, from_rate: u32, to_rate: u32) -> usize {
    if from_rate == 0 {
        return 0;
    }
    let (len, from, to) = (len as u128, u128::from(from_rate), u128::from(to_rate));
    ((len * to * 2 + from) / (from * 2)) as usize
}

/// Rejects a sample rate that is 0 or above [`MAX_RATE`].
pub fn check_rate(what: &str, rate: u32) -> Result<()> {
    if rate == 0 || rate > MAX_RATE {
        return Err(Error::invalid(what, format!("a sample rate in Hz between 1 and {MAX_RATE}"), rate, "pass the rate in Hz, e.g. 16000"));
    }
    Ok(())
}

fn run(resampler: &mut Fft<f32>, samples: &[f32]) -> Result<Vec<f32>> {
    let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| internal(e.to_string()))?;
    let output = resampler.process_all(&input, samples.len(), None).map_err(|e| internal(e.to_string()))?;
    Ok(output.take_data())
}

/// A resampler and the (from, to) rates it was built for.
type Cached = ((u32, u32), Fft<f32>);

thread_local! {
    /// The last resampler built on this thread. Building one plans FFTs and designs the filter,
    /// which costs more than resampling a short clip; batches mostly share one rate pair.
    static CACHED: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

fn with_resampler<T>(from_rate: u32, to_rate: u32, f: impl FnOnce(&mut Fft<f32>) -> Result<T>) -> Result<T> {
    CACHED.with(|cell| {
        let mut slot = cell.borrow_mut();
        let reusable = matches!(&*slot, Some((rates, _)) if *rates == (from_rate, to_rate));
        if !reusable {
            *slot = Some(((from_rate, to_rate), build(from_rate, to_rate)?));
        }
        match slot.as_mut() {
            Some((_, resampler)) => f(resampler),
            None => Err(internal("resampler cache is empty".into())),
        }
    })
}

fn build(from_rate: u32, to_rate: u32) -> Result<Fft<f32>> {
    let min_in = (from_rate / gcd(from_rate, to_rate)) as usize;
    // rubato trims a delay of N_out/2 output frames, while its filter is centred on
    // floor(N_in/2) input frames. They agree exactly only when both FFT sizes are even, which an
    // even number of minimal blocks guarantees; otherwise the output would lead or lag the
    // input by a fraction of a sample (up to ~0.7 samples for 11025 -> 16000 Hz).
    let blocks = MIN_BLOCK.div_ceil(min_in).next_multiple_of(2);
    // Extreme ratios (a 1 Hz file to 34 kHz) make blocks of tens of millions of frames: seconds of work
    // and gigabytes per block, and rubato panics on some. No audio needs them; refuse before planning.
    let (block_in, block_out) = (blocks * min_in, (blocks * min_in) as u64 * u64::from(to_rate) / u64::from(from_rate));
    if block_in > MAX_BLOCK || block_out > MAX_BLOCK as u64 {
        return Err(Error::invalid(
            format!("resampling {from_rate} Hz -> {to_rate} Hz"),
            format!("rates whose ratio needs FFT blocks of at most {MAX_BLOCK} frames"),
            format!("blocks of {block_in} -> {block_out} frames"),
            "Resample in steps, or check the rates: audio below 1 kHz is almost surely a wrong header or unit.",
        ));
    }
    Fft::<f32>::new_custom(from_rate as usize, to_rate as usize, blocks * min_in, 1, 1, WindowFunction::BlackmanHarris2, FixedSync::Both)
        .map_err(|e| internal(format!("cannot build a {from_rate} Hz -> {to_rate} Hz resampler: {e}")))
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// rubato rejected something our own checks should have caught; report it rather than panic.
fn internal(detail: String) -> Error {
    Error::invalid("resampler input", "input rubato accepts", detail, "this is a bug in trnet-dsp; please report it with the sample rates used")
}

#[cfg(test)]
mod limit_tests {
    #[test]
    fn extreme_ratios_are_refused_not_planned() {
        let err = super::resample(&[0.5; 8], 1, 34_789).unwrap_err();
        assert_eq!(err.code(), "TRNET_INVALID_ARGUMENT");
        assert!(err.to_string().contains("1 Hz -> 34789 Hz"), "{err}");
        assert_eq!(super::resample(&[0.5; 48_000], 48_000, 16_000).unwrap().len(), 16_000);
        assert!(super::resample(&[0.5; 16_000], 16_000, 767_999).is_ok());
        // Finite but near f32::MAX: would overflow the FFTs (rubato panicked).
        assert_eq!(super::resample(&[3e38; 1000], 16_000, 34_789).unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
    }
}
