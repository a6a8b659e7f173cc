//! Parity on real speech: a 0.5 s excerpt of a RAVDESS recording from shared/ (never committed; only the
//! torchaudio features are, in tests/fixtures/fbank/real*). Skipped, with a note, where shared/ is absent.
//! The file is decoded here with symphonia directly, so this test does not depend on the audio module.

use std::path::PathBuf;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::FormatOptions;
use symphonia::core::formats::TrackType;
use symphonia::core::formats::probe::Hint;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use trnet_dsp::fbank::{Fbank, FbankOptions};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fbank")
}

/// $TRNET_SHARED, else the shared/ folder beside the repository (as scripts/env.sh sets it).
fn shared_dir() -> PathBuf {
    std::env::var_os("TRNET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// All samples of a mono file as f32 (int16 / 32768 for PCM_16, like soundfile in the generator).
fn decode_mono(path: &std::path::Path) -> Vec<f32> {
    let file = Box::new(std::fs::File::open(path).unwrap());
    let mss = MediaSourceStream::new(file, Default::default());
    let mut format = symphonia::default::get_probe()
        .probe(
            &Hint::new(),
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .unwrap();
    let track = format.default_track(TrackType::Audio).unwrap();
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(
            track.codec_params.as_ref().unwrap().audio().unwrap(),
            &AudioDecoderOptions::default(),
        )
        .unwrap();
    let mut samples = Vec::new();
    let mut buf = Vec::new();
    while let Some(packet) = format.next_packet().unwrap() {
        if packet.track_id != track_id {
            continue;
        }
        let decoded = decoder.decode(&packet).unwrap();
        assert_eq!(
            decoded.spec().channels().count(),
            1,
            "the fixture file is mono"
        );
        buf.resize(decoded.samples_interleaved(), 0.0f32);
        decoded.copy_to_slice_interleaved(&mut buf);
        samples.extend_from_slice(&buf);
    }
    samples
}

#[test]
fn matches_torchaudio_on_real_speech() {
    let text = std::fs::read_to_string(fixture_dir().join("real.tsv")).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let row: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let get = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    let path = shared_dir().join(get("file"));
    if !path.exists() {
        eprintln!(
            "skipped: {} not found (set TRNET_SHARED to the shared data folder)",
            path.display()
        );
        return;
    }
    let (start, len): (usize, usize) = (get("start").parse().unwrap(), get("len").parse().unwrap());
    let wave = decode_mono(&path);
    let excerpt = &wave[start..start + len];
    // Same decoded samples as the generator's, or the comparison below would not be about the filterbank.
    let sum: f64 = excerpt.iter().map(|&x| x as f64).sum();
    let sum_sq: f64 = excerpt.iter().map(|&x| x as f64 * x as f64).sum();
    let (want_sum, want_sq): (f64, f64) = (
        get("sum").parse().unwrap(),
        get("sum_squares").parse().unwrap(),
    );
    assert!(
        (sum - want_sum).abs() < 1e-6 && (sum_sq - want_sq).abs() < 1e-6 * want_sq,
        "decoded excerpt differs"
    );

    assert_eq!(get("options"), "num_mel_bins=80");
    let feats = Fbank::new(FbankOptions::paper())
        .unwrap()
        .compute(excerpt)
        .unwrap();
    let bytes = std::fs::read(fixture_dir().join("real_features.bin")).unwrap();
    let reference: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(
        (feats.frames, feats.bins),
        (get("frames").parse().unwrap(), get("cols").parse().unwrap())
    );
    let max_diff = feats
        .data
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!(
        "real speech ({}): max abs log diff {max_diff:.2e}",
        get("file")
    );
    assert!(
        max_diff <= 1e-3,
        "max abs log-domain difference {max_diff} > 1e-3"
    );
}
