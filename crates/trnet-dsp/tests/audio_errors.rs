//! Every way an audio input can be bad gives a typed error with a stable code that names the
//! source and says how to fix it; none panics.

mod audio_support;

use audio_support::*;
use trnet_dsp::Error;
use trnet_dsp::audio::{decode_bytes, decode_file, load_bytes, load_file};
use trnet_dsp::error::AudioProblem;

fn pcm16_tone(len: usize) -> Wav {
    Wav::pcm(1, 16_000, 16, encode_int(&sine(440.0, 0.5, 16_000, len), 16))
}

#[test]
fn missing_file() {
    let path = temp_dir("missing").join("nope.wav");
    let name = path.display().to_string();
    let message = expect_audio_error(decode_file(&path), AudioProblem::Missing, &name);
    assert!(message.contains("no such file"), "{message}");
    assert_eq!(load_file(&path, 16_000).unwrap_err().code(), "TRNET_AUDIO_MISSING");
}

#[test]
fn zero_byte_file_and_empty_bytes() {
    let path = temp_dir("empty").join("empty.flac");
    std::fs::write(&path, b"").unwrap();
    let message = expect_audio_error(decode_file(&path), AudioProblem::Empty, &path.display().to_string());
    assert!(message.contains("0 bytes"), "{message}");
    expect_audio_error(decode_bytes(&[], "<bytes>"), AudioProblem::Empty, "<bytes>");
    assert_eq!(load_bytes(&[], "<bytes>", 16_000).unwrap_err().code(), "TRNET_AUDIO_EMPTY");
}

#[test]
fn wav_whose_data_chunk_claims_more_than_is_present_is_truncated() {
    let mut wav = pcm16_tone(16_000);
    wav.data.truncate(10_000 * 2); // 10_000 of the 16_000 frames the header announces
    wav.declared_data_len = Some(16_000 * 2);
    let message = expect_audio_error(decode_bytes(&wav.bytes(), "cut.wav"), AudioProblem::Truncated, "cut.wav");
    assert!(message.contains("16000 samples") && message.contains("10000"), "says what was expected and found: {message}");
    assert_eq!(decode_bytes(&wav.bytes(), "cut.wav").unwrap_err().code(), "TRNET_AUDIO_TRUNCATED");
}

#[test]
fn wav_cut_inside_its_header_is_truncated() {
    let bytes = pcm16_tone(100).bytes();
    expect_audio_error(decode_bytes(&bytes[..30], "head.wav"), AudioProblem::Truncated, "head.wav");
}

#[test]
fn compressed_files_cut_in_half_are_truncated() {
    // FLAC knows its length (STREAMINFO), OGG marks its last page, the MP3 has a Xing/Info tag.
    for name in ["sine440_44k1_stereo_24bit.flac", "sine440_16k_mono.ogg", "sine440_44k1_stereo.mp3"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        assert!(decode_bytes(&bytes, name).is_ok(), "{name} must decode when whole");
        for fraction in [0.5, 0.9] {
            let cut = &bytes[..(bytes.len() as f64 * fraction) as usize];
            expect_audio_error(decode_bytes(cut, name), AudioProblem::Truncated, name);
        }
    }
}

#[test]
fn real_flac_cut_in_half_is_truncated() {
    let path = shared_file("ravdess/Actor_01/03-01-01-01-01-01-01.flac");
    let bytes = std::fs::read(&path).unwrap();
    let message = expect_audio_error(decode_bytes(&bytes[..bytes.len() / 2], "half.flac"), AudioProblem::Truncated, "half.flac");
    assert!(message.contains("re-download") || message.contains("re-export"), "{message}");
}

fn damage(bytes: &[u8], fraction: f64) -> Vec<u8> {
    let mut damaged = bytes.to_vec();
    let at = (bytes.len() as f64 * fraction) as usize;
    damaged[at..at + 4].iter_mut().for_each(|b| *b ^= 0x5a);
    damaged
}

#[test]
fn damaged_flac_frames_are_reported_not_silently_dropped() {
    // symphonia's FLAC demuxer skips a frame whose CRC fails; the STREAMINFO count catches it.
    let name = "sine440_44k1_stereo_24bit.flac";
    let damaged = damage(&std::fs::read(fixture(name)).unwrap(), 0.4);
    let message = expect_audio_error(decode_bytes(&damaged, name), AudioProblem::Truncated, name);
    assert!(message.contains("11025 samples") && message.contains("damaged"), "{message}");
}

#[test]
fn damaged_ogg_page_is_corrupt() {
    let name = "sine440_16k_mono.ogg";
    let damaged = damage(&std::fs::read(fixture(name)).unwrap(), 0.6);
    let message = expect_audio_error(decode_bytes(&damaged, name), AudioProblem::CorruptHeader, name);
    assert!(message.contains("crc"), "{message}");
}

#[test]
fn garbage_is_a_corrupt_header_naming_the_bytes_found() {
    let text = b"this is a text file, not audio; it has no RIFF, fLaC, OggS or ID3 magic at all";
    let message = expect_audio_error(decode_bytes(text, "notes.wav"), AudioProblem::CorruptHeader, "notes.wav");
    assert!(message.contains("expected a WAV"), "says what was expected: {message}");
    assert!(message.contains("74 68 69 73"), "shows the bytes found: {message}");
    assert_eq!(decode_bytes(text, "notes.wav").unwrap_err().code(), "TRNET_AUDIO_CORRUPT");
    expect_audio_error(decode_bytes(&[0u8; 4096], "zeros.bin"), AudioProblem::CorruptHeader, "zeros.bin");
}

#[test]
fn wav_with_a_malformed_fmt_chunk_is_a_corrupt_header() {
    // 16-bit PCM declared with 0 channels.
    let mut bytes = pcm16_tone(100).bytes();
    bytes[22..24].copy_from_slice(&0u16.to_le_bytes());
    expect_audio_error(decode_bytes(&bytes, "zero-channels.wav"), AudioProblem::CorruptHeader, "zero-channels.wav");
}

#[test]
fn wav_with_an_unsupported_format_tag_is_unsupported() {
    let mut wav = pcm16_tone(1_000);
    wav.format_tag = 0x0055; // MPEG Layer III inside WAV: symphonia has no such WAV codec mapping
    let message = expect_audio_error(decode_bytes(&wav.bytes(), "mp3-in.wav"), AudioProblem::UnsupportedCodec, "mp3-in.wav");
    assert!(message.contains("16-bit PCM WAV or FLAC"), "says how to fix: {message}");
    assert_eq!(decode_bytes(&wav.bytes(), "mp3-in.wav").unwrap_err().code(), "TRNET_AUDIO_UNSUPPORTED");
}

#[test]
fn ogg_opus_is_unsupported() {
    let path = fixture("sine440_48k_mono.opus");
    let message = expect_audio_error(decode_file(&path), AudioProblem::UnsupportedCodec, &path.display().to_string());
    assert!(message.contains("Opus") && message.contains("not supported"), "names the codec: {message}");
}

#[test]
fn known_containers_we_do_not_read_are_unsupported_not_corrupt() {
    let mut mp4 = vec![0, 0, 0, 0x20];
    mp4.extend_from_slice(b"ftypM4A \0\0\0\0M4A mp42isom");
    mp4.resize(512, 0);
    let message = expect_audio_error(decode_bytes(&mp4, "voice.m4a"), AudioProblem::UnsupportedCodec, "voice.m4a");
    assert!(message.contains("MP4"), "{message}");
}

#[test]
fn valid_wav_with_zero_samples_has_no_samples() {
    let wav = Wav::pcm(1, 16_000, 16, Vec::new()).bytes();
    let message = expect_audio_error(decode_bytes(&wav, "silent.wav"), AudioProblem::NoSamples, "silent.wav");
    assert!(message.contains("no audio samples"), "{message}");
    assert_eq!(load_bytes(&wav, "silent.wav", 16_000).unwrap_err().code(), "TRNET_AUDIO_NO_SAMPLES");
}

#[test]
fn nan_in_a_float_wav_is_reported_with_its_index_and_time() {
    let mut values = to_f32(&sine(440.0, 0.5, 16_000, 20_000));
    values[16_008] = f32::NAN;
    let wav = Wav::float(1, 16_000, 32, encode_f32(&values)).bytes();
    let message = expect_audio_error(decode_bytes(&wav, "nan.wav"), AudioProblem::NonFinite, "nan.wav");
    assert!(message.contains("sample 16008"), "names the index: {message}");
    assert!(message.contains("1.0005 s"), "names the time: {message}");
    assert!(message.contains("NaN"), "{message}");
    assert_eq!(decode_bytes(&wav, "nan.wav").unwrap_err().code(), "TRNET_AUDIO_NON_FINITE");
}

#[test]
fn infinity_in_a_stereo_f64_wav_is_reported_with_frame_and_channel() {
    let mut interleaved = sine(440.0, 0.5, 8_000, 2 * 3_000);
    interleaved[2 * 1_234 + 1] = f64::NEG_INFINITY; // frame 1234, right channel
    let wav = Wav::float(2, 8_000, 64, encode_f64(&interleaved)).bytes();
    let message = expect_audio_error(decode_bytes(&wav, "inf.wav"), AudioProblem::NonFinite, "inf.wav");
    assert!(message.contains("sample 1234 (channel 1"), "{message}");
    assert!(message.contains("-inf"), "{message}");
}

#[test]
fn f64_values_beyond_f32_range_are_non_finite() {
    let wav = Wav::float(1, 16_000, 64, encode_f64(&[0.0, 1e300, 0.0])).bytes();
    expect_audio_error(decode_bytes(&wav, "huge.wav"), AudioProblem::NonFinite, "huge.wav");
}

#[test]
fn a_directory_is_an_io_error() {
    let dir = temp_dir("dir-input");
    let err = decode_file(&dir).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_eq!(err.code(), "TRNET_IO");
    assert!(err.to_string().contains("directory"), "{err}");
}

#[test]
fn a_fifo_or_a_device_is_refused_without_reading() {
    let dir = temp_dir("fifo-input");
    let fifo = dir.join("pipe.wav");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
    assert!(made.success());
    // With no writer, opening the FIFO for reading would block forever; it must fail at once instead.
    for path in [fifo.as_path(), std::path::Path::new("/dev/zero"), std::path::Path::new("/dev/null")] {
        let started = std::time::Instant::now();
        let err = decode_file(path).unwrap_err();
        assert_eq!(err.code(), "TRNET_AUDIO_NOT_A_FILE", "{path:?}: {err}");
        assert!(started.elapsed().as_secs() < 2, "{path:?} took {:?}", started.elapsed());
    }
    assert!(decode_file(&fifo).unwrap_err().to_string().contains("FIFO"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_target_rate_is_an_invalid_argument() {
    let wav = pcm16_tone(100).bytes();
    let err = load_bytes(&wav, "ok.wav", 0).unwrap_err();
    assert_eq!(err.code(), "TRNET_INVALID_ARGUMENT");
    assert!(err.to_string().contains("target_rate"), "{err}");
}

#[test]
fn random_bytes_never_panic() {
    // A tiny deterministic fuzz: random bytes, and valid files with random bytes overwritten.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let seeds: Vec<Vec<u8>> = vec![
        pcm16_tone(2_000).bytes(),
        std::fs::read(fixture("sine440_16k_mono.ogg")).unwrap(),
        std::fs::read(fixture("sine440_44k1_stereo.mp3")).unwrap(),
        std::fs::read(fixture("sine440_44k1_stereo_24bit.flac")).unwrap(),
    ];
    for round in 0..200 {
        let mut bytes = seeds[round % seeds.len()].clone();
        for _ in 0..(1 + next() % 8) {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        if round % 5 == 0 {
            bytes.truncate((next() as usize) % bytes.len());
        }
        // Ok (damage in a tolerant place) or a typed error; a panic fails the test.
        if let Err(err) = decode_bytes(&bytes, "fuzz") {
            assert!(err.code().starts_with("TRNET_"), "{err}");
        }
    }
}
