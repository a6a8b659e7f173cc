//! WAV decoding: every PCM depth and float width, downmix, odd rates, load at/away from the
//! native rate. The WAV bytes are built here (see audio_support::Wav).

mod audio_support;

use audio_support::*;
use trnet_dsp::audio::{decode_bytes, decode_file, load_bytes, load_file};

/// Values that every depth represents exactly, plus full scale (which clips to 2^(b-1)-1).
const LEVELS: [f64; 6] = [0.0, 0.5, -0.5, 0.25, -1.0, 1.0];

#[test]
fn integer_pcm_is_scaled_by_two_to_the_bits_minus_one() {
    for bits in [8u16, 16, 24, 32] {
        let wav = Wav::pcm(1, 16_000, bits, encode_int(&LEVELS, bits)).bytes();
        let decoded = decode_bytes(&wav, "levels.wav").unwrap_or_else(|e| panic!("{bits}-bit: {e}"));
        let scale = 2f64.powi(i32::from(bits) - 1);
        let full_scale = ((scale - 1.0) / scale) as f32;
        let expected = [0.0, 0.5, -0.5, 0.25, -1.0, full_scale];
        assert_eq!(decoded.samples, expected, "{bits}-bit PCM");
        assert_eq!((decoded.sample_rate, decoded.source_channels), (16_000, 1));
    }
}

#[test]
fn float_pcm_passes_through_unclipped() {
    let values = [0.1f32, -0.7, 1.5, -2.0, 0.0, 1e-8];
    let wav32 = Wav::float(1, 22_050, 32, encode_f32(&values)).bytes();
    assert_eq!(decode_bytes(&wav32, "f32.wav").unwrap().samples, values);

    let values64 = [0.1f64, -0.7, 1.5, -2.0, 0.0, 1e-8];
    let wav64 = Wav::float(1, 22_050, 64, encode_f64(&values64)).bytes();
    let expected: Vec<f32> = values64.iter().map(|&v| v as f32).collect();
    let decoded = decode_bytes(&wav64, "f64.wav").unwrap();
    assert_eq!(decoded.samples, expected);
    assert_eq!(decoded.sample_rate, 22_050);
}

#[test]
fn stereo_is_downmixed_by_averaging() {
    // Frames (L, R): (0.5, -0.25), (1.0 -> full scale, 1.0 -> full scale), (-1, -1), (0.5, -0.5).
    let interleaved = [0.5, -0.25, 1.0, 1.0, -1.0, -1.0, 0.5, -0.5];
    let wav = Wav::pcm(2, 44_100, 16, encode_int(&interleaved, 16)).bytes();
    let decoded = decode_bytes(&wav, "stereo.wav").unwrap();
    assert_eq!(decoded.source_channels, 2);
    assert_eq!(decoded.samples, [0.125, 32767.0 / 32768.0, -1.0, 0.0]);
}

#[test]
fn four_channels_are_averaged() {
    let interleaved = [0.5, 0.25, -0.25, 0.5];
    let wav = Wav::float(4, 48_000, 32, encode_f32(&to_f32(&interleaved))).bytes();
    let decoded = decode_bytes(&wav, "quad.wav").unwrap();
    assert_eq!(decoded.source_channels, 4);
    assert_eq!(decoded.samples, [0.25]);
}

#[test]
fn odd_sample_rates_are_reported_and_resampled_to_the_rounded_length() {
    for rate in [7_350u32, 8_000, 11_025, 22_050, 44_100, 48_000, 96_000] {
        let len = (rate as usize * 3) / 10 + 7; // 0.3 s and a few samples, not a round number
        let wav = Wav::pcm(1, rate, 16, encode_int(&sine(440.0, 0.5, rate, len), 16)).bytes();
        let decoded = decode_bytes(&wav, "odd.wav").unwrap();
        assert_eq!(decoded.sample_rate, rate);
        assert_eq!(decoded.samples.len(), len);

        let at_16k = load_bytes(&wav, "odd.wav", 16_000).unwrap();
        let expected_len = (len as f64 * 16_000.0 / f64::from(rate)).round() as usize;
        assert_eq!(at_16k.len(), expected_len, "{rate} Hz -> 16 kHz length");
        // The tone survives resampling (middle part, away from the edges).
        let middle = &at_16k[800..at_16k.len() - 800];
        let amplitude = amplitude_at(middle, 16_000, 440.0);
        assert!((amplitude - 0.5).abs() < 0.005, "{rate} Hz: 440 Hz amplitude after resampling {amplitude}");
    }
}

#[test]
fn load_at_the_native_rate_returns_the_decoded_samples_bit_for_bit() {
    let values = to_f32(&sine(1234.5, 0.8, 16_000, 4_000));
    let wav = Wav::float(1, 16_000, 32, encode_f32(&values)).bytes();
    let decoded = decode_bytes(&wav, "native.wav").unwrap();
    let loaded = load_bytes(&wav, "native.wav", 16_000).unwrap();
    assert_eq!(decoded.samples, values);
    let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&loaded), bits(&decoded.samples));
}

#[test]
fn files_decode_like_bytes_and_load_file_resamples() {
    let dir = temp_dir("wav-files");
    let path = dir.join("tone 44k1.wav"); // a space in the name on purpose
    let wav = Wav::pcm(2, 44_100, 24, encode_int(&sine(300.0, 0.25, 44_100, 2 * 4_410), 24)).bytes();
    std::fs::write(&path, &wav).unwrap();

    let from_file = decode_file(&path).unwrap();
    assert_eq!(from_file, decode_bytes(&wav, "x.wav").unwrap());
    assert_eq!(from_file.samples.len(), 4_410);
    assert!((from_file.duration_s() - 0.1).abs() < 1e-9);

    let loaded = load_file(&path, 16_000).unwrap();
    assert_eq!(loaded, load_bytes(&wav, "x.wav", 16_000).unwrap());
    assert_eq!(loaded.len(), 1_600);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn streamed_wav_with_unknown_size_decodes_to_the_end() {
    // Streaming encoders (e.g. ffmpeg writing to a pipe) set both sizes to 0xFFFFFFFF.
    // 5_000 frames is not a multiple of the reader's 1_152-frame packets.
    let values = sine(500.0, 0.5, 16_000, 5_000);
    let mut wav = Wav::pcm(1, 16_000, 16, encode_int(&values, 16));
    wav.declared_data_len = Some(u32::MAX);
    let decoded = decode_bytes(&wav.bytes(), "<bytes>").unwrap();
    assert_eq!(decoded.samples.len(), 5_000);
    let last = (values[4_999] * 32_768.0).round() / 32_768.0;
    assert_eq!(decoded.samples[4_999], last as f32);
}

#[test]
fn a_440_hz_tone_keeps_its_frequency_and_level() {
    let wav = Wav::pcm(1, 16_000, 16, encode_int(&sine(440.0, 0.5, 16_000, 16_000), 16)).bytes();
    let decoded = decode_bytes(&wav, "tone.wav").unwrap();
    assert!((amplitude_at(&decoded.samples, 16_000, 440.0) - 0.5).abs() < 1e-4);
    assert!(amplitude_at(&decoded.samples, 16_000, 880.0) < 1e-3);
}

#[test]
fn write_wav_round_trips_float_samples_exactly() {
    let dir = std::env::temp_dir().join(format!("trnet-write-wav-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.wav");
    let x: Vec<f32> = (0..4321).map(|i| ((i as f32) * 0.013).sin() * 0.7).collect();
    trnet_dsp::audio::write_wav(&path, &x, 16_000).unwrap();
    let back = trnet_dsp::audio::decode_file(&path).unwrap();
    assert_eq!(back.sample_rate, 16_000);
    assert_eq!(back.samples, x);
    assert!(trnet_dsp::audio::write_wav(&path, &x, 0).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
