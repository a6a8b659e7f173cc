"""Writes the torch.stft / torch.istft reference fixtures for crates/trnet-dsp/tests/stft_parity.rs.

Run at development time with the project venv (torch 2.11.0 from scripts/requirements-native.txt):
    source scripts/env.sh && "$TRNET_VENV/bin/python" scripts/reference/gen_stft_fixtures.py
The signal is generated here from a seed, so the fixture holds no audio from anywhere.
"""
import json
import math
import pathlib

import torch

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/trnet-dsp/tests/fixtures/stft"


def signal(n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(20261125)
    t = torch.arange(n, dtype=torch.float64) / 16000
    x = 0.4 * torch.sin(2 * math.pi * 220 * t) + 0.2 * torch.sin(2 * math.pi * 1375 * t) + 0.05 * torch.randn(n, generator=g, dtype=torch.float64)
    return x.to(torch.float32)


def case(name, n, n_fft, hop, win_length, window, center, pad_mode):
    x = signal(n)
    spec = torch.stft(x, n_fft, hop_length=hop, win_length=win_length, window=window, center=center, pad_mode=pad_mode, return_complex=True)
    back = torch.istft(spec, n_fft, hop_length=hop, win_length=win_length, window=window, center=center, length=n)
    spec = spec.transpose(0, 1).contiguous()  # frames × bins, like trnet's Spectrogram
    return {
        "name": name,
        "n_fft": n_fft,
        "hop_length": hop,
        "win_length": win_length,
        "center": center,
        "pad_mode": pad_mode,
        "signal": [round(v, 8) for v in x.tolist()],
        "frames": spec.shape[0],
        "bins": spec.shape[1],
        "spectrum": [round(v, 6) for v in torch.view_as_real(spec).flatten().tolist()],
        "istft": [round(v, 8) for v in back.tolist()],
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = [
        case("gtcrn", 1100, 512, 256, 512, torch.hann_window(512).sqrt(), True, "reflect"),
        case("cmgan", 900, 400, 100, 400, torch.hamming_window(400), True, "reflect"),
        case("short-window-constant", 700, 256, 64, 200, torch.hann_window(200), True, "constant"),
    ]
    for c in cases:
        (OUT / f"{c['name']}.json").write_text(json.dumps(c, separators=(",", ":")))
    print(f"wrote {len(cases)} fixtures to {OUT} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
