#!/usr/bin/env python3
"""Writes the tiny compressed audio fixtures used by crates/trnet-dsp/tests/audio_*.rs.

Each is a synthetic sine (no recorded audio), at most half a second, a few KB. WAV inputs are not
here: the Rust tests build those bytes themselves.

Development-time only; the results are committed, so CI does not need this script's packages:
    python3 -m venv /tmp/venv-fx && /tmp/venv-fx/bin/pip install soundfile numpy
    /tmp/venv-fx/bin/python scripts/reference/gen_audio_fixtures.py
soundfile's wheel bundles libsndfile (1.2.2 when these were made) with Vorbis, Opus, FLAC and
MPEG Layer III encoders.
"""
from pathlib import Path

import numpy as np
import soundfile as sf

OUT = Path(__file__).resolve().parents[2] / "crates/trnet-dsp/tests/fixtures/audio"
FREQ_HZ = 440.0
AMPLITUDE = 0.5


def tone(rate: int, seconds: float, channels: int) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    mono = AMPLITUDE * np.sin(2 * np.pi * FREQ_HZ * t)
    return np.repeat(mono[:, None], channels, axis=1)


# name, rate, seconds, channels, container, subtype
FIXTURES = [
    ("sine440_16k_mono.ogg", 16_000, 0.5, 1, "OGG", "VORBIS"),
    ("sine440_44k1_stereo.mp3", 44_100, 0.5, 2, "MP3", "MPEG_LAYER_III"),
    ("sine440_44k1_stereo_24bit.flac", 44_100, 0.25, 2, "FLAC", "PCM_24"),
    # Opus in OGG: a real container whose codec symphonia cannot decode (UnsupportedCodec test).
    ("sine440_48k_mono.opus", 48_000, 0.25, 1, "OGG", "OPUS"),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, rate, seconds, channels, container, subtype in FIXTURES:
        path = OUT / name
        sf.write(path, tone(rate, seconds, channels), rate, format=container, subtype=subtype)
        size = path.stat().st_size
        assert size < 20_000, f"{name} is {size} bytes; keep fixtures under 20 KB"
        print(f"{name}: {size} bytes")


if __name__ == "__main__":
    main()
