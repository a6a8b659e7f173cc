//! Parity on real speech: a 0.5 s excerpt of a RAVDESS recording from shared/ (never committed; only the
//! torchaudio features are, in tests/fixtures/fbank/real*). Fails with a fix where shared/ is absent.

use std::path::PathBuf;

use trnet_dsp::fbank::{Fbank, FbankOptions};

fn fixture_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("tests/fixtures/fbank")
}

/// $TRNET_SHARED, else the shared/ folder beside the repository (as scripts/env.sh sets it).
fn shared_dir() -> PathBuf {
    std::env::var_os("TRNET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../../shared"))
}

#[test]
fn matches_torchaudio_on_real_speech() {
    let text = std::fs::read_to_string(fixture_dir().join("real.tsv")).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let row: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let get = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    let path = shared_dir().join(get("file"));
    assert!(path.exists(), "missing {}: set TRNET_SHARED to the shared data folder", path.display());
    let (start, len): (usize, usize) = (get("start").parse().unwrap(), get("len").parse().unwrap());
    let wave = trnet_dsp::audio::decode_file(&path).unwrap().samples;
    let excerpt = &wave[start..start + len];
    // Same decoded samples as the generator's, or the comparison below would not be about the filterbank.
    let sum: f64 = excerpt.iter().map(|&x| x as f64).sum();
    let sum_sq: f64 = excerpt.iter().map(|&x| x as f64 * x as f64).sum();
    let (want_sum, want_sq): (f64, f64) = (get("sum").parse().unwrap(), get("sum_squares").parse().unwrap());
    assert!((sum - want_sum).abs() < 1e-6 && (sum_sq - want_sq).abs() < 1e-6 * want_sq, "decoded excerpt differs");

    assert_eq!(get("options"), "num_mel_bins=80");
    let feats = Fbank::new(FbankOptions::paper()).unwrap().compute(excerpt).unwrap();
    let bytes = std::fs::read(fixture_dir().join("real_features.bin")).unwrap();
    let reference: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!((feats.frames, feats.bins), (get("frames").parse().unwrap(), get("cols").parse().unwrap()));
    let max_diff = feats.data.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    eprintln!("real speech ({}): max abs log diff {max_diff:.2e}", get("file"));
    assert!(max_diff <= 1e-3, "max abs log-domain difference {max_diff} > 1e-3");
}
