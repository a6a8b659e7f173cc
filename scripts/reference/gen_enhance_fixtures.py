"""Writes the tiny ONNX models and model cards that crates/trnet-enhance/tests/ run, to prove the CMGAN and
model-card pre/post-processing without any real weights.

Run at development time in a throwaway venv (only the `onnx` package is needed):
    python3 -m venv /tmp/venv-enhfx && /tmp/venv-enhfx/bin/pip install onnx
    /tmp/venv-enhfx/bin/python scripts/reference/gen_enhance_fixtures.py
Every model is a few operators on constants, small enough to commit (< 10 KB each).

Models (B and T are dynamic axes unless said otherwise):
- cmgan_identity:    [B,2,T,201] -> (est_real, est_imag) [B,1,T,201]: the input's two channels unchanged.
- cmgan_gain:        as identity, times 0.5 (in the compressed domain: the enhancer must output 0.5^(1/0.3) x).
- cmgan_affine:      0.5 x + 0.01 before the split: not homogeneous, so only an RMS-normalised chain is
                     scale-invariant.
- cmgan_lowpass:     times a mask over bins (1 below bin 50 = 2 kHz, 0 above): catches swapped T/F or
                     interleaving mistakes.
- cmgan_complex_out: identity with one output [B,2,T,201] (the single-tensor output form).
- waveform_gain:     audio [1,N] -> enhanced [1,N] = 0.5 audio.
- spectrum_lowpass:  spec [1,257,T,2] (layout BFTC) -> enh, times a mask (1 below bin 64 = 2 kHz, 0 above).
- spectrum_fixed_t:  like spectrum_lowpass without the mask but with T fixed to 10 (must be refused).
- waveform_even:     audio [1,N] -> enhanced [1,N] unchanged, through a reshape to pairs of samples, so ONNX
                     Runtime rejects an odd N while running: a real per-input failure for the tests that
                     prove a failed enhancement never becomes features (feature stores).
"""
import json
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/trnet-enhance/tests/fixtures"
OPSET = 17  # Split without a `split` input divides equally in opsets 13-17.
F32 = TensorProto.FLOAT


def save(name, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="trnet gen_enhance_fixtures.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = OUT / f"{name}.onnx"
    onnx.save(model, path)
    size = path.stat().st_size
    assert size < 10_000, f"{path} is {size} bytes"
    print(f"{path.name}: {size} bytes")


def const(name, value):
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def cmgan(name, pre_nodes, pre_out, initializers=()):
    x = helper.make_tensor_value_info("noisy_spec", F32, ["B", 2, "T", 201])
    real = helper.make_tensor_value_info("est_real", F32, ["B", 1, "T", 201])
    imag = helper.make_tensor_value_info("est_imag", F32, ["B", 1, "T", 201])
    split = helper.make_node("Split", [pre_out], ["est_real", "est_imag"], axis=1)
    save(name, pre_nodes + [split], [x], [real, imag], initializers)


def card(name, body):
    path = OUT / f"{name}.card.json"
    path.write_text(json.dumps(body, indent=2) + "\n")
    print(path.name)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cmgan("cmgan_identity", [], "noisy_spec")
    cmgan("cmgan_gain", [helper.make_node("Mul", ["noisy_spec", "half"], ["scaled"])], "scaled", [const("half", 0.5)])
    cmgan(
        "cmgan_affine",
        [helper.make_node("Mul", ["noisy_spec", "half"], ["scaled"]), helper.make_node("Add", ["scaled", "offset"], ["shifted"])],
        "shifted",
        [const("half", 0.5), const("offset", 0.01)],
    )
    mask = (np.arange(201) < 50).astype(np.float32).reshape(1, 1, 1, 201)
    cmgan("cmgan_lowpass", [helper.make_node("Mul", ["noisy_spec", "mask"], ["masked"])], "masked", [const("mask", mask)])

    x = helper.make_tensor_value_info("noisy_spec", F32, ["B", 2, "T", 201])
    y = helper.make_tensor_value_info("est_spec", F32, ["B", 2, "T", 201])
    save("cmgan_complex_out", [helper.make_node("Identity", ["noisy_spec"], ["est_spec"])], [x], [y])

    a = helper.make_tensor_value_info("audio", F32, [1, "N"])
    e = helper.make_tensor_value_info("enhanced", F32, [1, "N"])
    save("waveform_gain", [helper.make_node("Mul", ["audio", "half"], ["enhanced"])], [a], [e], [const("half", 0.5)])

    s = helper.make_tensor_value_info("spec", F32, [1, 257, "T", 2])
    o = helper.make_tensor_value_info("enh", F32, [1, 257, "T", 2])
    mask = (np.arange(257) < 64).astype(np.float32).reshape(1, 257, 1, 1)
    save("spectrum_lowpass", [helper.make_node("Mul", ["spec", "mask"], ["enh"])], [s], [o], [const("mask", mask)])

    s = helper.make_tensor_value_info("spec", F32, [1, 257, 10, 2])
    o = helper.make_tensor_value_info("enh", F32, [1, 257, 10, 2])
    save("spectrum_fixed_t", [helper.make_node("Identity", ["spec"], ["enh"])], [s], [o])

    a = helper.make_tensor_value_info("audio", F32, [1, "N"])
    e = helper.make_tensor_value_info("enhanced", F32, [1, "N"])
    pairs = numpy_helper.from_array(np.array([-1, 2], dtype=np.int64), "pairs")
    row = numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "row")
    nodes = [helper.make_node("Reshape", ["audio", "pairs"], ["paired"]), helper.make_node("Reshape", ["paired", "row"], ["enhanced"])]
    save("waveform_even", nodes, [a], [e], [pairs, row])

    card("waveform_even", {"name": "waveform-even", "model": "waveform_even.onnx", "kind": "waveform", "sample_rate": 16000, "inputs": {"audio": "audio"}, "outputs": {"audio": "enhanced"}})
    card("waveform_gain", {"name": "waveform-gain", "model": "waveform_gain.onnx", "kind": "waveform", "sample_rate": 16000, "inputs": {"audio": "audio"}, "outputs": {"audio": "enhanced"}})
    card(
        "spectrum_lowpass",
        {
            "model": "spectrum_lowpass.onnx",
            "kind": "spectrum",
            "sample_rate": 16000,
            "stft": {"n_fft": 512, "hop_length": 256, "win_length": 512, "window": "sqrt_hann", "center": True, "pad_mode": "reflect"},
            "layout": "BFTC",
            "inputs": {"spectrum": "spec"},
            "outputs": {"spectrum": "enh"},
        },
    )
    # CMGAN's contract written as a card: the card path must give what the built-in CMGAN enhancer gives.
    card(
        "cmgan_gain",
        {
            "name": "cmgan-gain-as-card",
            "model": "cmgan_gain.onnx",
            "kind": "spectrum",
            "sample_rate": 16000,
            "stft": {"n_fft": 400, "hop_length": 100, "window": "hamming"},
            "layout": "BCTF",
            "inputs": {"spectrum": "noisy_spec"},
            "outputs": {"real": "est_real", "imag": "est_imag"},
            "compression": 0.3,
            "normalization": "rms",
            "hop_padding": "wrap",
        },
    )


if __name__ == "__main__":
    main()
