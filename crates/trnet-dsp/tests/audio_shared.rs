//! Real recordings from the shared data folder ($TRNET_SHARED, default ../../../shared from this
//! crate): RAVDESS speech, ESC-50 and Speech Commands noise, all 16 kHz mono 16-bit FLAC.

mod audio_support;

use std::path::PathBuf;

use audio_support::*;
use trnet_dsp::SAMPLE_RATE;
use trnet_dsp::audio::{decode_file, load_file, load_files};
use trnet_dsp::error::AudioProblem;

const RAVDESS: &str = "ravdess/Actor_01/03-01-01-01-01-01-01.flac";

#[test]
fn ravdess_flac_decodes_as_16_khz_mono_speech() {
    let decoded = decode_file(&shared_file(RAVDESS)).unwrap();
    assert_eq!(decoded.sample_rate, 16_000);
    assert_eq!(decoded.source_channels, 1);
    assert!(decoded.samples.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
    let seconds = decoded.duration_s();
    assert!((3.0..=5.0).contains(&seconds), "RAVDESS utterances last 3-5 s, got {seconds}");
    // Speech, not silence: audible level, and 16-bit quantisation (every sample is k / 32768).
    let level = rms(&decoded.samples);
    assert!(level > 1e-3, "rms {level}");
    assert!(decoded.samples.iter().all(|&s| (s * 32_768.0).fract() == 0.0));
    // Loading at the file's own rate is the decode, unchanged.
    assert_eq!(load_file(&shared_file(RAVDESS), SAMPLE_RATE).unwrap(), decoded.samples);
}

#[test]
fn batch_keeps_order_and_reports_the_bad_file_without_losing_the_others() {
    let mut paths: Vec<PathBuf> =
        [RAVDESS, "ravdess/Actor_01/03-01-01-01-01-02-01.flac", "esc50/audio/4-102844-A-49.flac", "noise-speechcommands/pink_noise.flac"]
            .iter()
            .map(|p| shared_file(p))
            .collect();
    let missing = shared_dir().join("data/ravdess/Actor_01/not-there.flac");
    paths.insert(2, missing.clone());

    let results = load_files(&paths, SAMPLE_RATE);
    assert_eq!(results.len(), paths.len());
    for (path, result) in paths.iter().zip(&results) {
        if *path == missing {
            let err = result.as_ref().expect_err("the missing file must fail");
            assert_eq!(err.code(), "TRNET_AUDIO_MISSING");
            assert!(err.to_string().contains("not-there.flac"), "{err}");
            assert!(matches!(err, trnet_dsp::Error::Audio { kind: AudioProblem::Missing, .. }));
        } else {
            // Same result, in the same slot, as loading that file alone.
            let alone = load_file(path, SAMPLE_RATE).unwrap();
            assert_eq!(result.as_ref().unwrap(), &alone, "{}", path.display());
            assert!(!alone.is_empty());
        }
    }
}

#[test]
fn batch_resamples_to_another_rate() {
    let paths = vec![shared_file(RAVDESS), shared_file("noise-speechcommands/white_noise.flac")];
    let at_8k = load_files(&paths, 8_000);
    for (path, result) in paths.iter().zip(at_8k) {
        let native = decode_file(path).unwrap();
        let resampled = result.unwrap();
        assert_eq!(resampled.len(), (native.samples.len() as f64 / 2.0).round() as usize);
        assert!(resampled.iter().all(|s| s.is_finite()));
    }
}
