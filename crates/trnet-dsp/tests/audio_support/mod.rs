//! Helpers shared by the audio_* tests: a WAV writer, signal generators and measurements.
#![allow(dead_code)] // each test binary uses a different subset

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use trnet_dsp::Error;
use trnet_dsp::error::AudioProblem;

pub const WAVE_FORMAT_PCM: u16 = 0x0001;
pub const WAVE_FORMAT_IEEE_FLOAT: u16 = 0x0003;

/// A RIFF/WAVE file with a 16-byte `fmt ` chunk and one `data` chunk. `declared_data_len`
/// overrides the data chunk's size field (to fake truncation or streaming), `None` writes the
/// true size.
pub struct Wav {
    pub format_tag: u16,
    pub channels: u16,
    pub rate: u32,
    pub bits: u16,
    pub data: Vec<u8>,
    pub declared_data_len: Option<u32>,
}

impl Wav {
    pub fn pcm(channels: u16, rate: u32, bits: u16, data: Vec<u8>) -> Self {
        Wav { format_tag: WAVE_FORMAT_PCM, channels, rate, bits, data, declared_data_len: None }
    }

    pub fn float(channels: u16, rate: u32, bits: u16, data: Vec<u8>) -> Self {
        Wav { format_tag: WAVE_FORMAT_IEEE_FLOAT, channels, rate, bits, data, declared_data_len: None }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let block_align = self.channels * self.bits.div_ceil(8);
        let data_len = self.declared_data_len.unwrap_or(self.data.len() as u32);
        let riff_len = if data_len == u32::MAX { u32::MAX } else { 4 + (8 + 16) + 8 + data_len };
        let mut out = Vec::with_capacity(44 + self.data.len());
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&riff_len.to_le_bytes());
        out.extend_from_slice(b"WAVE");
        out.extend_from_slice(b"fmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&self.format_tag.to_le_bytes());
        out.extend_from_slice(&self.channels.to_le_bytes());
        out.extend_from_slice(&self.rate.to_le_bytes());
        out.extend_from_slice(&(self.rate * u32::from(block_align)).to_le_bytes());
        out.extend_from_slice(&block_align.to_le_bytes());
        out.extend_from_slice(&self.bits.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        out.extend_from_slice(&self.data);
        out
    }
}

/// Interleaved f64 samples in [-1, 1] encoded as `bits`-bit integer PCM (8-bit is unsigned,
/// the rest signed little-endian), using the scale 2^(bits-1).
pub fn encode_int(samples: &[f64], bits: u16) -> Vec<u8> {
    let scale = 2f64.powi(i32::from(bits) - 1);
    let max = scale - 1.0;
    let mut out = Vec::new();
    for &s in samples {
        let v = (s * scale).round().clamp(-scale, max) as i64;
        match bits {
            8 => out.push((v + 128) as u8),
            16 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            24 => out.extend_from_slice(&(v as i32).to_le_bytes()[..3]),
            32 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => panic!("unsupported test bit depth {bits}"),
        }
    }
    out
}

pub fn encode_f32(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

pub fn encode_f64(samples: &[f64]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// `amplitude * sin(2π f t)` sampled at `rate`, `len` samples, starting at t = 0.
pub fn sine(freq: f64, amplitude: f64, rate: u32, len: usize) -> Vec<f64> {
    (0..len).map(|i| amplitude * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()).collect()
}

pub fn to_f32(samples: &[f64]) -> Vec<f32> {
    samples.iter().map(|&s| s as f32).collect()
}

pub fn rms(samples: &[f32]) -> f64 {
    (samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

pub fn db(ratio: f64) -> f64 {
    20.0 * ratio.log10()
}

/// Least-squares fit of `a sin(2π f t) + b cos(2π f t)`; returns the amplitude sqrt(a²+b²).
/// Over many whole periods this is the signal's component at `f`.
pub fn amplitude_at(samples: &[f32], rate: u32, freq: f64) -> f64 {
    let (mut ss, mut cc, mut sc, mut ys, mut yc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &y) in samples.iter().enumerate() {
        let w = 2.0 * PI * freq * i as f64 / f64::from(rate);
        let (s, c) = w.sin_cos();
        let y = f64::from(y);
        ss += s * s;
        cc += c * c;
        sc += s * c;
        ys += y * s;
        yc += y * c;
    }
    let det = ss * cc - sc * sc;
    let a = (ys * cc - yc * sc) / det;
    let b = (yc * ss - ys * sc) / det;
    (a * a + b * b).sqrt()
}

/// Asserts `err` is an audio error of `kind` whose message names `name`, and returns the message.
pub fn expect_audio_error(result: Result<impl std::fmt::Debug, Error>, kind: AudioProblem, name: &str) -> String {
    let err = result.expect_err("expected an audio error");
    match &err {
        Error::Audio { kind: found, source_name, fix, .. } => {
            assert_eq!(*found, kind, "wrong kind; error was: {err}");
            assert_eq!(source_name, name, "error names the wrong source: {err}");
            assert!(!fix.is_empty(), "error has no fix: {err}");
        }
        other => panic!("expected an audio error of kind {kind:?}, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(name), "message does not name the source: {message}");
    message
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("tests/fixtures/audio").join(name)
}

/// The shared data folder: `$TRNET_SHARED`, else `<manifest>/../../../shared`.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("TRNET_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../../shared"),
    }
}

/// A file under shared/data; fails loudly (never skips) when the data is not there.
pub fn shared_file(relative: &str) -> PathBuf {
    let path = shared_dir().join("data").join(relative);
    assert!(path.is_file(), "missing shared test data {}; set TRNET_SHARED to the shared/ folder", path.display());
    path
}

/// A fresh, empty temporary directory for one test.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trnet-dsp-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}
