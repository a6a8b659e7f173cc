//! The whole-utterance GTCRN export (scripts/export-gtcrn-offline.py) against the published streaming export of
//! the same checkpoint, on real recordings. The export is generated (`scripts/export-gtcrn-offline.sh`, run by
//! `npm test` and `npm run setup`); when it is missing these tests say so and pass without checking anything.

mod common;
use common::*;
use trnet_enhance::Enhancer;
use trnet_enhance::gtcrn::{Gtcrn, GtcrnMode};
use trnet_enhance::onnx::SessionOptions;
use trnet_enhance::quality::si_sdr_db;

fn offline() -> Option<Gtcrn> {
    match gtcrn_offline_path() {
        Ok(path) => Some(Gtcrn::load(path, SessionOptions::default()).expect("the whole-utterance export loads")),
        Err(why) => {
            eprintln!("SKIPPED (whole-utterance GTCRN export missing): {why}");
            None
        }
    }
}

fn recordings() -> Vec<(String, Vec<f32>)> {
    let vb = shared().join("data/voicebank-samples/noisy");
    let rv = shared().join("data/ravdess/Actor_01");
    let mut files: Vec<_> = ["p232_003.flac", "p232_005.flac", "p232_006.flac"].iter().map(|f| vb.join(f)).collect();
    files.extend(["03-01-01-01-01-01-01.flac", "03-01-05-02-01-01-01.flac"].iter().map(|f| rv.join(f)));
    files
        .iter()
        .map(|f| {
            let d = trnet_dsp::audio::decode_file(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert_eq!(d.sample_rate, 16_000);
            (f.file_name().unwrap().to_string_lossy().into_owned(), d.samples)
        })
        .collect()
}

#[test]
fn whole_utterance_export_matches_the_streaming_export_on_real_speech() {
    let Some(mut offline) = offline() else { return };
    assert_eq!(offline.mode(), GtcrnMode::Utterance);
    let mut stream = Gtcrn::load(gtcrn_path(), SessionOptions::default()).unwrap();
    assert_eq!(stream.mode(), GtcrnMode::Streaming);
    let (mut t_off, mut t_stream, mut seconds) = (0.0, 0.0, 0.0);
    for (name, noisy) in recordings() {
        let start = std::time::Instant::now();
        let a = offline.enhance(&noisy).unwrap();
        t_off += start.elapsed().as_secs_f64();
        let start = std::time::Instant::now();
        let b = stream.enhance(&noisy).unwrap();
        t_stream += start.elapsed().as_secs_f64();
        seconds += noisy.len() as f64 / SR;
        assert_eq!(a.len(), noisy.len());
        let diff = max_abs_diff(&a, &b);
        let sisdr = si_sdr_db(&b, &a).unwrap();
        let peak = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        eprintln!("{name}: {:.2} s, max |offline - streaming| {diff:.2e} (peak {peak:.3}), SI-SDR between them {sisdr:.1} dB", noisy.len() as f64 / SR);
        // Measured on these five: max |diff| ≤ 6.3e-7, SI-SDR ≥ 128 dB (float rounding only); the bounds leave room.
        assert!(diff < 1e-4, "{name}: max |diff| {diff:.2e}");
        assert!(sisdr > 60.0, "{name}: SI-SDR {sisdr:.1} dB");
    }
    eprintln!("one thread, {seconds:.1} s of audio: RTF streaming {:.4}, whole utterance {:.4}", t_stream / seconds, t_off / seconds);
}

#[test]
fn whole_utterance_export_handles_every_length_and_resets() {
    let Some(mut e) = offline() else { return };
    assert!(e.enhance(&[]).unwrap().is_empty());
    let mut stream = Gtcrn::load(gtcrn_path(), SessionOptions::default()).unwrap();
    // 1 to 4 frames (zero-padded below 257 samples), and a few hundred.
    for n in [1, 100, 256, 257, 1000, 16_000 * 3 + 123] {
        let x: Vec<f32> = tone(n, 440.0, 0.3).iter().zip(white_noise(n, 9)).map(|(a, b)| a + b).collect();
        let a = e.enhance(&x).unwrap();
        assert_eq!(a.len(), n);
        assert!(max_abs_diff(&a, &stream.enhance(&x).unwrap()) < 1e-4, "n = {n}");
    }
    let x = mix(&speech_like(8000, 3), &pink_noise(8000, 4), 0.0);
    let first = e.enhance(&x).unwrap();
    e.enhance(&white_noise(5000, 1)).unwrap();
    assert_eq!(first, e.enhance(&x).unwrap(), "every call starts from scratch");
    assert_eq!(e.enhance(&[f32::INFINITY]).unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
}

#[test]
fn the_two_exports_have_different_fingerprints() {
    let Some(e) = offline() else { return };
    let fp = e.fingerprint();
    assert!(fp.starts_with("gtcrn;utterance-v1;sha256="), "{fp}");
    assert!(fp.ends_with(";n_fft=512,hop=256,win=512,window=sqrt_hann,center=true,pad=reflect"), "{fp}");
    assert_ne!(fp, Gtcrn::load(gtcrn_path(), SessionOptions::default()).unwrap().fingerprint());
    assert_eq!(e.name(), "gtcrn");
}

#[test]
fn fast_gru_gives_the_same_enhancement_as_onnx_runtimes_gru_on_real_speech() {
    let Ok(path) = gtcrn_offline_path() else {
        eprintln!("SKIPPED (whole-utterance GTCRN export missing): {}", gtcrn_offline_path().unwrap_err());
        return;
    };
    let mut fast = Gtcrn::load(&path, SessionOptions::default()).unwrap();
    let mut standard = Gtcrn::load(&path, SessionOptions { fast_gru: false, graph_rewrites: false, ..SessionOptions::default() }).unwrap();
    // The export's 10 GRU nodes: 2 intra-frame (bidirectional), 2 inter-frame, 6 in the TRA blocks.
    assert_eq!(fast.fast_grus(), 10, "is TRNET_FAST_GRU=0 set?");
    assert_eq!(standard.fast_grus(), 0);
    // Each GRU's input Transpose and the Transpose after its output (directly, or after the Squeeze of the
    // direction axis) are folded into the operator, and for the two intra-frame GRUs the Transpose after the
    // Reshape that merges the directions too: 22 of the export's 38 Transposes.
    let rerouted = trnet_enhance::onnx_rewrite::reroute_grus(&std::fs::read(&path).unwrap(), "ai.trnet", "FastGRU").unwrap();
    assert_eq!((rerouted.rerouted, rerouted.folded_transposes), (10, 22), "kept: {:?}", rerouted.kept);
    assert_eq!(fast.fingerprint(), standard.fingerprint(), "the same model and processing: the same cache key");
    let (mut t_fast, mut t_standard) = (0.0, 0.0);
    for (name, noisy) in recordings() {
        fast.enhance(&noisy).unwrap();
        standard.enhance(&noisy).unwrap();
        let start = std::time::Instant::now();
        let a = fast.enhance(&noisy).unwrap();
        t_fast += start.elapsed().as_secs_f64();
        let start = std::time::Instant::now();
        let b = standard.enhance(&noisy).unwrap();
        t_standard += start.elapsed().as_secs_f64();
        let diff = max_abs_diff(&a, &b);
        let peak = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        eprintln!("{name}: max |FastGRU - ORT GRU| {diff:.2e} on the waveform (peak {peak:.3})");
        assert!(diff < 1e-5, "{name}: max |diff| {diff:.2e}");
    }
    eprintln!("whole-utterance GTCRN, one thread, wall: ORT GRU {:.1} ms, FastGRU {:.1} ms (machine load not controlled)", t_standard * 1e3, t_fast * 1e3);
}

#[test]
fn graph_rewrites_give_the_same_enhancement_as_the_graph_as_exported() {
    let Ok(path) = gtcrn_offline_path() else {
        eprintln!("SKIPPED (whole-utterance GTCRN export missing): {}", gtcrn_offline_path().unwrap_err());
        return;
    };
    let load =
        |graph_rewrites| trnet_enhance::onnx::OnnxModel::load(&path, SessionOptions { fast_gru: false, graph_rewrites, ..SessionOptions::default() }).unwrap();
    let applied = load(true).graph_rewrites.clone();
    assert!(load(false).graph_rewrites.is_empty());
    // The streaming export (fixed-size inputs, one frame per call) ran slower rewritten: left as it is.
    let streaming = trnet_enhance::onnx::OnnxModel::load(gtcrn_path(), SessionOptions::default()).unwrap();
    assert!(streaming.graph_rewrites.is_empty(), "{:?}", streaming.graph_rewrites);
    // GTCRN's six causal time Pads before the depthwise convs, en_convs.1 (2 groups of 8 channels), de_convs.3
    // (stride 2, 16 output channels; de_convs.4 has 2) and the four DPGRNN linear layers (read by the Reshape
    // back to [batch, frames, bins, 16]; TRA's att_fc is read by a Sigmoid).
    let count = |what: &str| applied.iter().filter(|a| a.starts_with(what)).count();
    // And the zero initial_h (with its sizing arithmetic) of every GRU.
    assert_eq!((count("Pad "), count("Conv "), count("ConvTranspose "), count("MatMul "), count("GRU ")), (6, 1, 1, 4, 10), "{applied:#?}");
    assert!(applied.iter().any(|a| a.contains("/encoder/en_convs.1/conv/Conv with 2 groups")), "{applied:#?}");
    assert!(applied.iter().any(|a| a.starts_with("ConvTranspose /decoder/de_convs.3/conv/ConvTranspose")), "{applied:#?}");
    // Whole SE, both with trnet's GRU: the rewritten graph against the graph as exported.
    let fused_model = trnet_enhance::onnx::OnnxModel::load(&path, SessionOptions::default()).unwrap();
    assert_eq!(fused_model.graph_rewrites.iter().filter(|a| a.starts_with("FastGRU ")).count(), 10, "{:#?}", fused_model.graph_rewrites);
    drop(fused_model);
    let mut fused = Gtcrn::load(&path, SessionOptions::default()).unwrap();
    let mut plain = Gtcrn::load(&path, SessionOptions { graph_rewrites: false, ..SessionOptions::default() }).unwrap();
    assert_eq!(fused.fingerprint(), plain.fingerprint(), "the same model and processing: the same cache key");
    for (name, noisy) in recordings() {
        let a = fused.enhance(&noisy).unwrap();
        let b = plain.enhance(&noisy).unwrap();
        let diff = max_abs_diff(&a, &b);
        eprintln!("{name}: max |rewritten - as exported| {diff:.2e} on the waveform");
        // Measured ≤ 7e-7: the same function, through kernels that round differently.
        assert!(diff < 2e-6, "{name}: max |diff| {diff:.2e}");
    }
}
