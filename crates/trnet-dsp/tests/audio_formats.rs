//! Compressed formats through symphonia: FLAC, OGG/Vorbis, MP3. The fixtures are 440 Hz sines of
//! amplitude 0.5 made by scripts/reference/gen_audio_fixtures.py.

mod audio_support;

use audio_support::*;
use trnet_dsp::audio::{Decoded, decode_bytes, decode_file, load_file};

const FREQ: f64 = 440.0;
const AMPLITUDE: f64 = 0.5;

fn check_tone(decoded: &Decoded, rate: u32, channels: u16, seconds: f64, amplitude_tolerance: f64) {
    assert_eq!(decoded.sample_rate, rate);
    assert_eq!(decoded.source_channels, channels);
    assert_eq!(decoded.samples.len(), (seconds * f64::from(rate)).round() as usize, "exact length (gapless trimming for lossy codecs)");
    assert!(decoded.samples.iter().all(|s| s.is_finite()));
    let edge = rate as usize / 50; // skip 20 ms at each end, where lossy codecs ramp in and out
    let middle = &decoded.samples[edge..decoded.samples.len() - edge];
    let at_tone = amplitude_at(middle, rate, FREQ);
    assert!((at_tone - AMPLITUDE).abs() < amplitude_tolerance, "440 Hz amplitude {at_tone}");
    // Nearly all the energy is at 440 Hz: the residual after removing the tone is small.
    let total = rms(middle);
    let tone_rms = at_tone / 2f64.sqrt();
    let residual = (total * total - tone_rms * tone_rms).max(0.0).sqrt();
    assert!(residual < 0.02, "energy away from 440 Hz: rms {residual}");
}

#[test]
fn flac_24_bit_stereo() {
    let decoded = decode_file(&fixture("sine440_44k1_stereo_24bit.flac")).unwrap();
    check_tone(&decoded, 44_100, 2, 0.25, 1e-4);
    // Lossless: every sample equals the 24-bit quantised sine.
    let expected = sine(FREQ, AMPLITUDE, 44_100, 11_025);
    let max_err = decoded.samples.iter().zip(&expected).map(|(&d, &e)| (f64::from(d) - e).abs()).fold(0.0, f64::max);
    assert!(max_err < 1.0 / 8_388_608.0, "max error {max_err} exceeds one 24-bit step");
}

#[test]
fn ogg_vorbis_mono() {
    let decoded = decode_file(&fixture("sine440_16k_mono.ogg")).unwrap();
    check_tone(&decoded, 16_000, 1, 0.5, 0.01);
}

#[test]
fn mp3_stereo() {
    let decoded = decode_file(&fixture("sine440_44k1_stereo.mp3")).unwrap();
    check_tone(&decoded, 44_100, 2, 0.5, 0.02);
}

#[test]
fn mp3_is_time_aligned_after_gapless_trimming() {
    // The encoder delay is removed, so the tone starts at t = 0 with phase 0, like the source.
    let decoded = decode_file(&fixture("sine440_44k1_stereo.mp3")).unwrap();
    let reference = to_f32(&sine(FREQ, AMPLITUDE, 44_100, decoded.samples.len()));
    let window = 2_000..20_000;
    let corr = |lag: isize| -> f64 { window.clone().map(|i| f64::from(decoded.samples[i]) * f64::from(reference[(i as isize + lag) as usize])).sum() };
    let best = (-20..=20).max_by(|&a, &b| corr(a).total_cmp(&corr(b))).unwrap();
    assert!(best.abs() <= 1, "MP3 output is shifted by {best} samples");
}

#[test]
fn extension_is_only_a_hint() {
    // An OGG file named .wav still decodes: the content decides.
    let bytes = std::fs::read(fixture("sine440_16k_mono.ogg")).unwrap();
    let decoded = decode_bytes(&bytes, "misnamed.wav").unwrap();
    assert_eq!((decoded.sample_rate, decoded.samples.len()), (16_000, 8_000));
}

#[test]
fn compressed_files_load_at_16_khz() {
    let mp3 = load_file(&fixture("sine440_44k1_stereo.mp3"), 16_000).unwrap();
    assert_eq!(mp3.len(), 8_000);
    assert!((amplitude_at(&mp3[400..7_600], 16_000, FREQ) - AMPLITUDE).abs() < 0.02);

    let ogg_path = fixture("sine440_16k_mono.ogg");
    let ogg = load_file(&ogg_path, 16_000).unwrap();
    assert_eq!(ogg, decode_file(&ogg_path).unwrap().samples, "no resampling at the native rate");
}
