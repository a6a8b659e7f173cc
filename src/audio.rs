//! Audio in: decode a file or bytes to mono float samples at a target rate (16 kHz unless told otherwise),
//! singly or as a batch on all cores where one bad file is reported without losing the others.

use crate::errors::{Code, Failure, guard};
use crate::jobs::{Job, Progress, ProgressFn, spawn};
use napi::Env;
use napi::bindgen_prelude::{AbortSignal, Buffer, Float32Array};
use napi_derive::napi;
use std::path::{Path, PathBuf};
use trnet_dsp::audio;
use trnet_dsp::batch::{BatchControl, par_map};

#[napi(object)]
pub struct AudioOptions {
    /// Output sample rate in Hz; default 16000 (what trnet's features use).
    pub target_rate: Option<u32>,
}

fn target_rate(o: &Option<AudioOptions>) -> u32 {
    o.as_ref().and_then(|o| o.target_rate).unwrap_or(trnet_dsp::SAMPLE_RATE)
}

#[napi(object)]
pub struct AudioClip {
    /// Mono samples (channels averaged) at `sampleRate`.
    pub samples: Float32Array,
    pub sample_rate: u32,
    pub source_sample_rate: u32,
    pub source_channels: u32,
    pub duration_seconds: f64,
}

fn clip(decoded: audio::Decoded, rate: u32) -> Result<AudioClip, Failure> {
    let (source_sample_rate, source_channels) = (decoded.sample_rate, decoded.source_channels as u32);
    let samples = audio::to_rate(decoded, rate)?;
    Ok(AudioClip {
        duration_seconds: samples.len() as f64 / rate as f64,
        samples: Float32Array::new(samples),
        sample_rate: rate,
        source_sample_rate,
        source_channels,
    })
}

/// One input of a prediction, as the façade passes it to a model's job: a file path, encoded audio bytes, or
/// samples with their rate (exactly one of the three; the façade has checked which).
#[napi(object)]
pub struct AudioInput {
    pub path: Option<String>,
    pub bytes: Option<Buffer>,
    pub samples: Option<Float32Array>,
    pub sample_rate: Option<u32>,
}

/// `input` as 16 kHz mono, decoded on the calling (job) thread. `keep`: the 16 kHz samples the caller reads
/// (None: all); samples at another rate are cut to that much plus a second before resampling (the resampler
/// reads past the cut), so a long recording is not resampled whole for the first seconds. Errors name `index`.
pub(crate) fn input_at_16k(input: &AudioInput, index: usize, keep: Option<usize>) -> Result<std::borrow::Cow<'_, [f32]>, Failure> {
    const RATE: u32 = trnet_dsp::SAMPLE_RATE;
    let named = |e: trnet_dsp::Error| {
        let f = Failure::from(e);
        Failure { message: format!("input {index}: {}", f.message), ..f }
    };
    let samples = match input {
        AudioInput { path: Some(path), .. } => audio::load_file(Path::new(path), RATE).map_err(named)?,
        AudioInput { bytes: Some(bytes), .. } => audio::load_bytes(bytes, "input", RATE).map_err(named)?,
        AudioInput { samples: Some(samples), sample_rate: Some(RATE), .. } => return Ok(samples[..].into()),
        AudioInput { samples: Some(samples), sample_rate: Some(rate), .. } => {
            let need = keep.map_or(samples.len(), |k| ((k as f64 / f64::from(RATE) + 1.0) * f64::from(*rate)).ceil() as usize);
            let cut = &samples[..need.min(samples.len())];
            if let Some(i) = cut.iter().position(|v| !v.is_finite()) {
                return Err(Failure::new(
                    Code("TRNET_INVALID_ARGUMENT"),
                    format!("input {index}: samples: expected finite numbers, found {} at sample {i} of {}. Repair or drop the input.", cut[i], samples.len()),
                ));
            }
            trnet_dsp::resample::resample(cut, *rate, RATE).map_err(named)?
        }
        _ => return Err(Failure::new(Code("TRNET_INVALID_ARGUMENT"), format!("input {index}: expected a path, bytes, or samples with their rate"))),
    };
    Ok(samples.into())
}

/// Decodes WAV (PCM 8/16/24/32, float 32/64), FLAC, OGG/Vorbis or MP3 from a path.
#[napi]
pub fn decode_audio(path: String, options: Option<AudioOptions>) -> napi::Result<AudioClip, Code> {
    let rate = target_rate(&options);
    guard(|| clip(audio::decode_file(Path::new(&path))?, rate))
}

/// Decodes audio held in memory; `name` (e.g. the original file name) appears in errors and hints the format.
#[napi]
pub fn decode_audio_bytes(bytes: Buffer, name: String, options: Option<AudioOptions>) -> napi::Result<AudioClip, Code> {
    let rate = target_rate(&options);
    guard(|| clip(audio::decode_bytes(&bytes, &name)?, rate))
}

#[napi(object)]
pub struct ItemError {
    pub code: String,
    pub message: String,
}

impl From<Failure> for ItemError {
    fn from(f: Failure) -> Self {
        ItemError { code: f.code.0.to_string(), message: f.message }
    }
}

#[napi(object)]
pub struct AudioBatchItem {
    pub path: String,
    /// Present when the file loaded.
    pub samples: Option<Float32Array>,
    /// Present when it did not: the same code and message a single `decodeAudio` would throw.
    pub error: Option<ItemError>,
}

/// Loads many files on all cores. Resolves with one item per path, in order; progress counts finished files.
#[napi(ts_return_type = "Promise<Array<AudioBatchItem>>")]
pub fn load_audio_batch(
    env: &Env,
    paths: Vec<String>,
    options: Option<AudioOptions>,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> napi::Result<Job<Vec<AudioBatchItem>>, Code> {
    let rate = target_rate(&options);
    spawn(
        env,
        move |ctx| {
            let files: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
            let on_done = |done: usize, total: usize| ctx.report(Progress::Decode { done: done as u32, total: total as u32 });
            let cancelled = || ctx.keep_going().is_break();
            let results = par_map(&files, |p| audio::load_file(p, rate), &BatchControl { on_done: &on_done, cancelled: &cancelled });
            ctx.check_aborted()?;
            Ok(paths
                .into_iter()
                .zip(results)
                .map(|(path, r)| match r.expect("not cancelled") {
                    Ok(samples) => AudioBatchItem { path, samples: Some(Float32Array::new(samples)), error: None },
                    Err(e) => AudioBatchItem { path, samples: None, error: Some(Failure::from(e).into()) },
                })
                .collect())
        },
        on_progress,
        signal,
    )
}
