//! Signal processing for trnet: audio in, features out. Knows nothing of torch or Node.
//!
//! - `batch`: per-item batch work on all cores with progress and cancellation.
//! - `audio`: decode files/bytes (WAV, FLAC, OGG/Vorbis, MP3) to mono f32, with typed errors.
//! - `resample`: band-limited resampling to 16 kHz.
//! - `fbank`: log-Mel filterbank equal to `torchaudio.compliance.kaldi.fbank`.
//! - `stft`: STFT and inverse STFT for the speech-enhancement front end.
//! - `frames`: fixed-length utterances (pad/truncate to N frames).
//! - `mix`: noise mixed in at a target SNR.
//! - `files`: atomic file writes, the one way every trnet crate writes a file.
//! - `limits`: bounds and fallible allocation for caller-sized buffers.

pub mod audio;
pub mod batch;
pub mod error;
pub mod fbank;
pub mod files;
pub mod frames;
pub mod limits;
pub mod mix;
pub mod resample;
pub mod rng;
pub mod stft;

pub use error::{Detail, Error};
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The sample rate everything in trnet runs at (paper §4.2).
pub const SAMPLE_RATE: u32 = 16_000;
