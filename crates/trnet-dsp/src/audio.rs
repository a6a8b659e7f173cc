//! Audio in: decode WAV (PCM 8/16/24/32-bit, float 32/64), FLAC, OGG/Vorbis and MP3 to mono f32.
//!
//! Every failure is a typed [`Error::Audio`] that names the source, says what was expected and
//! what was found, and how to fix it. Nothing here panics on bad input.
//!
//! Truncation policy: a file that ends before its own header says it should is an error
//! ([`AudioProblem::Truncated`]), never a silently shorter clip. It is detected in two ways:
//! the demuxer hits end-of-file inside a packet/page/frame, or the container announced a frame
//! count (WAV data chunk size, FLAC STREAMINFO, MP3 Xing/Info tag) that was not reached. Streams
//! with no announced length and no framing to check (a bare MP3 cut between frames, a WAV written
//! by a streaming encoder with the "unknown size" marker) cannot be told apart from complete
//! ones and decode to what is there.
//!
//! Damage inside the stream is not skipped over either: a packet that fails to decode is a
//! [`AudioProblem::CorruptHeader`] error (code `TRNET_AUDIO_CORRUPT`), since a clip with a hole
//! in it would otherwise pass unnoticed into training or evaluation.

use std::io::{Cursor, ErrorKind};
use std::path::{Path, PathBuf};

use crate::batch::{self, BatchControl};
use symphonia::core::codecs::audio::well_known::{CODEC_ID_AAC, CODEC_ID_ALAC, CODEC_ID_MP1, CODEC_ID_MP2, CODEC_ID_OPUS, CODEC_ID_SPEEX};
use symphonia::core::codecs::audio::{AudioCodecId, AudioCodecParameters, AudioDecoder, AudioDecoderOptions, CODEC_ID_NULL_AUDIO};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::well_known::FORMAT_ID_WAVE;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use crate::Result;
use crate::error::{AudioProblem, Error};
use crate::resample;

/// Decoded audio, downmixed to mono.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Mono samples: the mean of all channels. Integer PCM (WAV, FLAC) is scaled by
    /// 1/2^(bits-1), so it lies in [-1, 1); float WAV and lossy decoders' output pass through
    /// unclipped (but are guaranteed finite).
    pub samples: Vec<f32>,
    /// Sample rate of the source, in Hz.
    pub sample_rate: u32,
    /// Channel count of the source before the downmix.
    pub source_channels: u16,
}

impl Decoded {
    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

const REENCODE: &str = "re-encode it as 16-bit PCM WAV or FLAC, e.g. `ffmpeg -i IN -ac 1 -ar 16000 -c:a pcm_s16le OUT.wav`";

/// Decodes a file to mono at its own sample rate.
pub fn decode_file(path: &Path) -> Result<Decoded> {
    let bytes = read_file(path)?;
    decode_bytes(&bytes, &path.display().to_string())
}

/// Decodes in-memory audio to mono at its own sample rate. `name` is used in error messages
/// (a file name, or "<bytes>"), and its extension, if any, as a format hint.
pub fn decode_bytes(bytes: &[u8], name: &str) -> Result<Decoded> {
    if bytes.is_empty() {
        return Err(Error::audio(
            name,
            AudioProblem::Empty,
            "the audio is empty (0 bytes)",
            "the file was probably not written or copied completely; re-export or re-download it",
        ));
    }
    let mut reader = open_format(bytes, name)?;
    decode_default_track(reader.as_mut(), name)
}

/// Decodes a file and resamples it to `target_rate`, as mono. When the file is already at
/// `target_rate` the samples are returned exactly as decoded.
pub fn load_file(path: &Path, target_rate: u32) -> Result<Vec<f32>> {
    resample::check_rate("target_rate", target_rate)?;
    let decoded = decode_file(path)?;
    to_rate(decoded, target_rate)
}

/// [`load_file`] for in-memory audio; `name` as in [`decode_bytes`].
pub fn load_bytes(bytes: &[u8], name: &str, target_rate: u32) -> Result<Vec<f32>> {
    resample::check_rate("target_rate", target_rate)?;
    let decoded = decode_bytes(bytes, name)?;
    to_rate(decoded, target_rate)
}

/// Loads many files on all cores. One result per path, in input order, so one bad file is
/// reported without losing the others.
pub fn load_files(paths: &[PathBuf], target_rate: u32) -> Vec<Result<Vec<f32>>> {
    batch::par_map(paths, |path| load_file(path, target_rate), &BatchControl::NONE).into_iter().map(|r| r.expect("never cancelled")).collect()
}

/// Resamples decoded audio to `target_rate` (returns the samples untouched when the rate already matches).
pub fn to_rate(decoded: Decoded, target_rate: u32) -> Result<Vec<f32>> {
    if decoded.sample_rate == target_rate {
        return Ok(decoded.samples);
    }
    resample::resample(&decoded.samples, decoded.sample_rate, target_rate)
}

/// Reads a whole audio file. Only regular files are read, and never more bytes than the file had when it
/// was opened: a FIFO or a terminal would block the worker forever and a device such as /dev/zero never
/// ends, so both are refused before any byte is read.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let name = path.display().to_string();
    let not_found = |err: std::io::Error| match err.kind() {
        ErrorKind::NotFound => Error::audio(&name, AudioProblem::Missing, "no such file", missing_fix(path)),
        _ => Error::Io { path: path.to_path_buf(), reason: err.to_string() },
    };
    let meta = std::fs::metadata(path).map_err(not_found)?;
    if meta.is_dir() {
        return Err(Error::Io { path: path.to_path_buf(), reason: "it is a directory, expected an audio file".into() });
    }
    if !meta.is_file() {
        return Err(not_a_file(&name, &meta));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Should the path be swapped for a FIFO between the check above and the open, a non-blocking open
    // returns at once instead of waiting for a writer; the type is checked again on the open file.
    #[cfg(target_os = "linux")]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, 0o4000 /* O_NONBLOCK */);
    let file = options.open(path).map_err(not_found)?;
    let meta = file.metadata().map_err(not_found)?;
    if !meta.is_file() {
        return Err(not_a_file(&name, &meta));
    }
    let size = usize::try_from(meta.len())
        .map_err(|_| Error::Io { path: path.to_path_buf(), reason: format!("it is {} bytes, more than this platform can address", meta.len()) })?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(size).map_err(|_| Error::Io { path: path.to_path_buf(), reason: format!("cannot allocate {size} bytes to read it") })?;
    // A file that grows while it is read (still being written) is read up to the size it had.
    file.take(size as u64).read_to_end(&mut bytes).map_err(not_found)?;
    Ok(bytes)
}

fn not_a_file(name: &str, meta: &std::fs::Metadata) -> Error {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let kind = if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Error::audio(
        name,
        AudioProblem::NotAFile,
        format!("it is {kind}, expected a regular audio file"),
        "pass the path of an audio file on disk; to decode a stream, read it into memory and use decodeAudioBytes",
    )
}

fn missing_fix(path: &Path) -> String {
    if path.is_relative() {
        let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_else(|_| "?".into());
        format!("check the path; relative paths are resolved against the working directory {cwd}")
    } else {
        "check the path and that the file was not moved or deleted".into()
    }
}

/// Probes the container. Failures here are about the header: not audio at all, an audio
/// container we do not read, a malformed header, or a file cut inside its header.
fn open_format<'a>(bytes: &'a [u8], name: &str) -> Result<Box<dyn FormatReader + 'a>> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes)), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = Path::new(name).extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probe = symphonia::default::get_probe();
    probe.probe(&hint, source, FormatOptions::default(), MetadataOptions::default()).map_err(|err| probe_error(err, bytes, name))
}

fn probe_error(err: SymError, bytes: &[u8], name: &str) -> Error {
    match err {
        // Running out of bytes means a cut-off file only if it starts like one of our formats;
        // otherwise a reader merely chased a magic-looking byte pattern through garbage.
        SymError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof && has_known_magic(bytes) => {
            truncated(name, format!("the file ends before its header/container structure is complete ({} bytes in all)", bytes.len()))
        }
        SymError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof => unrecognised(bytes, name),
        SymError::Unsupported(msg) if msg.contains("no suitable format reader") => unrecognised(bytes, name),
        SymError::Unsupported(msg) => Error::audio(
            name,
            AudioProblem::UnsupportedCodec,
            format!("unsupported audio encoding ({msg}); supported are WAV (PCM 8/16/24/32-bit, float 32/64, A-law, mu-law, ADPCM), FLAC, OGG/Vorbis and MP3"),
            REENCODE,
        ),
        other => corrupt(name, format!("the header or container structure is corrupt ({other})")),
    }
}

/// No reader recognised the bytes. Name a known-but-unsupported container when the magic
/// bytes say so (a clearer message than "corrupt"), otherwise call the header corrupt.
fn unrecognised(bytes: &[u8], name: &str) -> Error {
    if let Some(container) = unsupported_container(bytes) {
        return Error::audio(
            name,
            AudioProblem::UnsupportedCodec,
            format!("{container} files are not supported; expected WAV, FLAC, OGG/Vorbis or MP3"),
            REENCODE,
        );
    }
    Error::audio(
        name,
        AudioProblem::CorruptHeader,
        format!("not a recognised audio file: expected a WAV (RIFF/WAVE), FLAC (fLaC), OGG (OggS) or MP3 header, found bytes {}", hex_prefix(bytes)),
        format!("check that this really is an audio file; if it is, it is damaged: {REENCODE}"),
    )
}

fn unsupported_container(bytes: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    if at(4, b"ftyp") {
        Some("MP4/M4A (AAC or ALAC)")
    } else if at(0, b"FORM") {
        Some("AIFF")
    } else if at(0, b"caff") {
        Some("Core Audio (CAF)")
    } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("Matroska/WebM")
    } else if at(0, b"#!AMR") {
        Some("AMR")
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        Some("AVI")
    } else {
        None
    }
}

/// Whether `bytes` start with the magic of a format we decode.
fn has_known_magic(bytes: &[u8]) -> bool {
    let mpeg_sync = bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0;
    [&b"RIFF"[..], b"fLaC", b"OggS", b"ID3"].iter().any(|magic| bytes.starts_with(magic)) || mpeg_sync
}

fn hex_prefix(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(12).map(|b| format!("{b:02x}")).collect();
    let text: String = bytes.iter().take(12).map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }).collect();
    format!("{} (\"{}\")", shown.join(" "), text)
}

/// What the container promised about the track, used to detect truncation and rate changes.
struct TrackInfo {
    id: u32,
    expected_frames: Option<u64>,
    is_wave: bool,
}

fn decode_default_track(reader: &mut dyn FormatReader, name: &str) -> Result<Decoded> {
    let is_wave = reader.format_info().format == FORMAT_ID_WAVE;
    let Some(track) = reader.default_track(TrackType::Audio) else {
        return Err(Error::audio(
            name,
            AudioProblem::NoSamples,
            "the file contains no audio track",
            "check that the file holds audio (not only metadata or video)",
        ));
    };
    let info = TrackInfo { id: track.id, expected_frames: track.num_frames, is_wave };
    let Some(params) = track.codec_params.as_ref().and_then(|p| p.audio()).cloned() else {
        return Err(unsupported_codec(name, "the audio track has no codec parameters the decoder understands".into()));
    };
    let mut decoder = make_decoder(&params, name)?;
    let sample_rate = params.sample_rate;
    let mut sink = MonoSink::new(sample_rate, params.channels.as_ref().map(|c| c.count()));
    decode_packets(reader, decoder.as_mut(), &info, &mut sink, name)?;
    sink.finish(&info, name)
}

fn make_decoder(params: &AudioCodecParameters, name: &str) -> Result<Box<dyn AudioDecoder>> {
    if params.codec == CODEC_ID_NULL_AUDIO {
        return Err(unsupported_codec(name, "the container does not name a codec this build can decode".into()));
    }
    symphonia::default::get_codecs().make_audio_decoder(params, &AudioDecoderOptions::default()).map_err(|err| match err {
        SymError::Unsupported(_) => {
            unsupported_codec(name, format!("the audio codec ({}) is not supported; supported are PCM, FLAC, Vorbis and MP3", codec_name(params.codec)))
        }
        other => corrupt(name, format!("invalid codec parameters ({other})")),
    })
}

/// Names the codecs most often met in containers we do read (OGG, WAV, MP3) but cannot decode.
fn codec_name(codec: AudioCodecId) -> String {
    let known = [
        (CODEC_ID_OPUS, "Opus"),
        (CODEC_ID_SPEEX, "Speex"),
        (CODEC_ID_AAC, "AAC"),
        (CODEC_ID_ALAC, "ALAC"),
        (CODEC_ID_MP1, "MPEG Layer I"),
        (CODEC_ID_MP2, "MPEG Layer II"),
    ];
    match known.iter().find(|(id, _)| *id == codec) {
        Some((_, label)) => (*label).to_string(),
        None => format!("symphonia codec id {codec}"),
    }
}

fn decode_packets(reader: &mut dyn FormatReader, decoder: &mut dyn AudioDecoder, info: &TrackInfo, sink: &mut MonoSink, name: &str) -> Result<()> {
    loop {
        let packet = match reader.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => return Ok(()),
            // A WAV of unknown length (streaming encoders write size 0xFFFFFFFF) ends in an EOF
            // error even when complete; every other EOF inside the stream means it was cut off.
            Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof && info.is_wave && info.expected_frames.is_none() => return Ok(()),
            Err(err) => return Err(stream_error(err, sink, info, name)),
        };
        if packet.track_id != info.id {
            continue;
        }
        let buffer = decoder.decode(&packet).map_err(|err| stream_error(err, sink, info, name))?;
        let rate = buffer.spec().rate();
        let channels = buffer.spec().channels().count();
        if buffer.frames() == 0 {
            continue;
        }
        sink.check_rate(rate, name)?;
        buffer.copy_to_vec_interleaved(&mut sink.scratch);
        sink.push_interleaved(channels, name)?;
    }
}

/// Maps an error met while reading or decoding packets; `sink` tells how far decoding got.
fn stream_error(err: SymError, sink: &MonoSink, info: &TrackInfo, name: &str) -> Error {
    let at = format!("{:.3} s", sink.seconds());
    match err {
        SymError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof => truncated(name, sink.shortfall(info.expected_frames)),
        SymError::IoError(e) => corrupt(name, format!("read error after {at}: {e}")),
        SymError::DecodeError(msg) => corrupt(name, format!("malformed audio data after {at} ({msg})")),
        SymError::Unsupported(msg) => unsupported_codec(name, format!("unsupported feature in the audio data after {at} ({msg})")),
        SymError::ResetRequired => unsupported_codec(name, format!("the stream changes its format after {at} (chained or multi-part stream)")),
        other => corrupt(name, format!("cannot decode after {at} ({other})")),
    }
}

fn truncated(name: &str, problem: String) -> Error {
    Error::audio(name, AudioProblem::Truncated, problem, "the file was cut off (interrupted write, copy or download); re-export or re-download it")
}

fn corrupt(name: &str, problem: String) -> Error {
    Error::audio(name, AudioProblem::CorruptHeader, problem, format!("the file is damaged; re-export it, or {REENCODE}"))
}

fn unsupported_codec(name: &str, problem: String) -> Error {
    Error::audio(name, AudioProblem::UnsupportedCodec, problem, REENCODE)
}

/// Accumulates decoded packets as mono, checking every sample is finite on the way.
struct MonoSink {
    samples: Vec<f32>,
    /// Interleaved samples of the packet being added; reused to avoid an allocation per packet.
    scratch: Vec<f32>,
    sample_rate: Option<u32>,
    channels: Option<usize>,
}

impl MonoSink {
    fn new(sample_rate: Option<u32>, channels: Option<usize>) -> Self {
        MonoSink { samples: Vec::new(), scratch: Vec::new(), sample_rate, channels }
    }

    fn seconds(&self) -> f64 {
        match self.sample_rate {
            Some(rate) if rate > 0 => self.samples.len() as f64 / f64::from(rate),
            _ => 0.0,
        }
    }

    /// The rate is fixed for the whole file: a mid-stream change cannot be represented as one
    /// clip at one rate.
    fn check_rate(&mut self, rate: u32, name: &str) -> Result<()> {
        if rate == 0 {
            return Err(corrupt(name, "the stream declares a sample rate of 0 Hz".into()));
        }
        match self.sample_rate {
            Some(known) if known != rate && !self.samples.is_empty() => {
                Err(unsupported_codec(name, format!("the sample rate changes from {known} Hz to {rate} Hz after {:.3} s", self.seconds())))
            }
            _ => {
                self.sample_rate = Some(rate);
                Ok(())
            }
        }
    }

    fn push_interleaved(&mut self, channels: usize, name: &str) -> Result<()> {
        if channels == 0 {
            return Err(corrupt(name, "the stream declares 0 channels".into()));
        }
        // A branch-free scan per block (it vectorises; a search stopping at the first bad sample does not, and
        // took as long as the decoding); the position is looked up only on failure.
        if self.scratch.chunks(256).any(|b| b.iter().fold(false, |bad, x| bad | !x.is_finite()))
            && let Some(pos) = self.scratch.iter().position(|s| !s.is_finite())
        {
            return Err(self.non_finite(pos, channels, name));
        }
        self.channels.get_or_insert(channels);
        if channels == 1 {
            self.samples.extend_from_slice(&self.scratch);
        } else {
            // Averaging (not summing) keeps a full-scale stereo file within [-1, 1].
            let scale = 1.0 / channels as f32;
            self.samples.extend(self.scratch.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() * scale));
        }
        Ok(())
    }

    fn non_finite(&self, pos: usize, channels: usize, name: &str) -> Error {
        let value = self.scratch[pos];
        let frame = self.samples.len() + pos / channels;
        let what = if value.is_nan() { "NaN".to_string() } else { format!("{value}") };
        let rate = self.sample_rate.unwrap_or(1);
        Error::audio(
            name,
            AudioProblem::NonFinite,
            format!("sample {frame} (channel {}, at {:.4} s) is {what}; audio samples must be finite numbers", pos % channels, frame as f64 / f64::from(rate)),
            "the program that wrote this float WAV produced NaN/Inf values; fix it, or replace them (e.g. with 0) before saving",
        )
    }

    /// Says how much audio a cut-off file has, against what its header announced if it did.
    fn shortfall(&self, expected: Option<u64>) -> String {
        let decoded = self.samples.len();
        let rate = f64::from(self.sample_rate.unwrap_or(1).max(1));
        match expected {
            Some(expected) => format!(
                "the header announces {expected} samples ({:.3} s) but the file ends after {decoded} ({:.3} s)",
                expected as f64 / rate,
                decoded as f64 / rate
            ),
            None => format!("the file ends in the middle of the audio data, after {decoded} samples ({:.3} s)", decoded as f64 / rate),
        }
    }

    fn finish(self, info: &TrackInfo, name: &str) -> Result<Decoded> {
        // The stream ended cleanly but short: either cut at a frame boundary, or a demuxer (FLAC)
        // resynchronised past damaged frames. Both lose audio; the message admits both.
        if let Some(expected) = info.expected_frames
            && (self.samples.len() as u64) < expected
        {
            let rate = f64::from(self.sample_rate.unwrap_or(1).max(1));
            let decoded = self.samples.len();
            return Err(truncated(
                name,
                format!(
                    "only {decoded} ({:.3} s) of the {expected} samples ({:.3} s) the header announces could be decoded: the file is cut off or has damaged frames",
                    decoded as f64 / rate,
                    expected as f64 / rate
                ),
            ));
        }
        let (Some(sample_rate), false) = (self.sample_rate, self.samples.is_empty()) else {
            return Err(Error::audio(
                name,
                AudioProblem::NoSamples,
                "the file is valid but contains no audio samples (0 frames)",
                "the recording is empty; re-record it or remove it from the input list",
            ));
        };
        let source_channels = u16::try_from(self.channels.unwrap_or(1)).unwrap_or(u16::MAX);
        Ok(Decoded { samples: self.samples, sample_rate, source_channels })
    }
}

/// Writes mono samples as a 32-bit float WAV file, atomically (`files::write_atomic`), so an interrupted
/// write never leaves a half file under the final name.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<()> {
    resample::check_rate("sample rate of the WAV to write", sample_rate)?;
    // decode_file refuses non-finite samples, so writing them would make a file trnet cannot read back.
    if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            format!("sample {i} of the audio to write"),
            "a finite number",
            samples[i],
            "Replace NaN/infinite samples (e.g. with 0) before writing.",
        ));
    }
    let data_len = samples.len() as u64 * 4;
    if data_len > u32::MAX as u64 - 64 {
        return Err(Error::invalid("audio to write as WAV", "under 4 GiB of samples", format!("{} samples", samples.len()), "Split it into shorter files."));
    }
    let mut bytes = Vec::with_capacity(44 + samples.len() * 4);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&3u16.to_le_bytes()); // WAVE_FORMAT_IEEE_FLOAT
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&sample_rate.to_le_bytes());
    bytes.extend_from_slice(&(sample_rate * 4).to_le_bytes());
    bytes.extend_from_slice(&4u16.to_le_bytes());
    bytes.extend_from_slice(&32u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&(data_len as u32).to_le_bytes());
    for v in samples {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    crate::files::write_atomic(path, &bytes, crate::files::Durability::Atomic).map_err(|e| Error::Write { path: path.to_path_buf(), reason: e.to_string() })
}
