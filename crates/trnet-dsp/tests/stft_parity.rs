//! STFT / iSTFT against torch.stft / torch.istft (fixtures from scripts/reference/gen_stft_fixtures.py).

use serde_json::Value;
use std::path::Path;
use trnet_dsp::stft::{PadMode, Stft, StftConfig, Window};

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn window_for(name: &str, len: usize) -> Window {
    match name {
        "gtcrn" => Window::SqrtHann,
        "cmgan" => Window::Hamming,
        _ => {
            assert_eq!(len, 200);
            Window::Hann
        }
    }
}

#[test]
fn matches_torch_stft_and_istft() {
    let dir = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("tests/fixtures/stft");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let c: Value = serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        let name = c["name"].as_str().unwrap();
        let n = |k: &str| c[k].as_u64().unwrap() as usize;
        let config = StftConfig {
            n_fft: n("n_fft"),
            hop_length: n("hop_length"),
            win_length: n("win_length"),
            window: window_for(name, n("win_length")),
            center: c["center"].as_bool().unwrap(),
            pad_mode: if c["pad_mode"] == "reflect" { PadMode::Reflect } else { PadMode::Constant },
        };
        let stft = Stft::new(config).unwrap();
        let x = floats(&c["signal"]);
        let spec = stft.forward(&x).unwrap();
        assert_eq!((spec.frames, spec.bins), (n("frames"), n("bins")), "{name}");
        let want = floats(&c["spectrum"]);
        let err = spec.data.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(err < 2e-4, "{name}: spectrum max abs diff {err}");
        let back = stft.inverse(&spec, Some(x.len())).unwrap();
        let want = floats(&c["istft"]);
        let err = back.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(err < 1e-5, "{name}: istft max abs diff {err}");
        seen += 1;
    }
    assert_eq!(seen, 3);
}
