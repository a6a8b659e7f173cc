//! The `serde` feature: the option types' JSON forms (what the addon parses and what feature-store keys
//! hash). Run with `cargo test -p trnet-dsp --features serde`; the workspace build enables it through the
//! addon and trnet-train.
#![cfg(feature = "serde")]

use serde_json::json;
use trnet_dsp::fbank::{FbankOptions, WindowType};
use trnet_dsp::frames;
use trnet_dsp::stft::{self, StftConfig, Window};

#[test]
fn fbank_options_use_camel_case_names_and_round_trip_exactly() {
    let mut o = FbankOptions::paper();
    o.dither = 0.1 + 0.2; // not representable in short decimal: must still come back bit for bit
    o.dither_seed = u64::MAX;
    o.window_type = WindowType::Blackman;
    let v = serde_json::to_value(&o).unwrap();
    assert_eq!(v["numMelBins"], json!(80));
    assert_eq!(v["windowType"], json!("blackman"));
    assert_eq!(v["ditherSeed"], json!(u64::MAX));
    assert!(v.get("num_mel_bins").is_none(), "{v}");
    let back: FbankOptions = serde_json::from_value(v).unwrap();
    assert_eq!(back, o);
    assert_eq!(back.dither.to_bits(), o.dither.to_bits());
}

/// logFloor appears only when it is not Kaldi's, so the JSON (and the feature-store keys hashed from it)
/// of every config made before the option existed is unchanged.
#[test]
fn the_log_floor_is_serialised_only_when_it_is_not_kaldis() {
    let v = serde_json::to_value(FbankOptions::paper()).unwrap();
    assert!(v.get("logFloor").is_none(), "{v}");
    let o = FbankOptions { log_floor: 1e-10, ..FbankOptions::paper() };
    let v = serde_json::to_value(&o).unwrap();
    assert_eq!(v["logFloor"], json!(1e-10));
    assert_eq!(serde_json::from_value::<FbankOptions>(v).unwrap(), o);
}

#[test]
fn absent_fbank_fields_take_torchaudio_defaults_and_unknown_ones_are_refused() {
    let o: FbankOptions = serde_json::from_value(json!({ "numMelBins": 80 })).unwrap();
    assert_eq!(o, FbankOptions::paper());
    let o: FbankOptions = serde_json::from_value(json!({})).unwrap();
    assert_eq!(o, FbankOptions::default());
    let err = serde_json::from_value::<FbankOptions>(json!({ "numMelBin": 80 })).unwrap_err().to_string();
    assert!(err.contains("numMelBin"), "{err}");
    let err = serde_json::from_value::<FbankOptions>(json!({ "windowType": "kaiser" })).unwrap_err().to_string();
    assert!(err.contains("kaiser") && err.contains("povey"), "{err}");
}

#[test]
fn window_type_names_are_the_torchaudio_names() {
    for w in WindowType::ALL {
        assert_eq!(serde_json::to_value(w).unwrap(), json!(w.name()));
        assert_eq!(serde_json::from_value::<WindowType>(json!(w.name())).unwrap(), w);
    }
}

#[test]
fn stft_configs_and_pad_modes_round_trip() {
    for c in [StftConfig::gtcrn(), StftConfig::cmgan(), StftConfig { window: Window::Custom(vec![0.5, 1.0, 0.5]), win_length: 3, ..StftConfig::gtcrn() }] {
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(serde_json::from_value::<StftConfig>(v).unwrap(), c);
    }
    let v = serde_json::to_value(StftConfig::gtcrn()).unwrap();
    assert_eq!(v, json!({ "nFft": 512, "hopLength": 256, "winLength": 512, "window": "sqrt-hann", "center": true, "padMode": "reflect" }));
    assert_eq!(serde_json::to_value(stft::PadMode::Constant).unwrap(), json!("constant"));
    assert_eq!(serde_json::to_value(frames::PadMode::Zero).unwrap(), json!("zero"));
    assert_eq!(serde_json::from_value::<frames::PadMode>(json!("repeat")).unwrap(), frames::PadMode::Repeat);
}
