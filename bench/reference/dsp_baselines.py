"""Times the Python baselines for bench/dsp.ts on the exact audio the TypeScript side wrote.

Input: a JSON manifest on argv[1]: {"raw": [paths of little-endian float32 16 kHz mono files],
"wav48k": [paths of 48 kHz WAV files], "threads": 1, "repeats": R}. Prints one JSON object with seconds per
baseline. Run by bench/dsp.ts with the dev venv (scripts/setup-dev.sh).
"""
import json
import sys
import time

import torch


def best_of(repeats, fn):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    spec = json.load(open(sys.argv[1]))
    torch.set_num_threads(spec["threads"])
    repeats = spec["repeats"]
    waves = []
    for p in spec["raw"]:
        data = open(p, "rb").read()
        waves.append(torch.frombuffer(bytearray(data), dtype=torch.float32))
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}

    import torchaudio.compliance.kaldi as kaldi

    def ta():
        for w in waves:
            kaldi.fbank(w.unsqueeze(0), num_mel_bins=80, frame_length=25.0, frame_shift=10.0, dither=0.0, sample_frequency=16000)

    out["torchaudio_fbank_s"] = best_of(repeats, ta)

    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = 16000
    opts.mel_opts.num_bins = 80
    lists = [w.tolist() for w in waves]

    # OnlineFbank computes every ready frame inside accept_waveform; reading them back is one Python call per
    # frame (there is no bulk getter), so both the kernel alone and the whole use are timed.
    def kn(read_frames):
        def run():
            for samples in lists:
                fb = knf.OnlineFbank(opts)
                fb.accept_waveform(16000, samples)
                fb.input_finished()
                if read_frames:
                    for i in range(fb.num_frames_ready):
                        fb.get_frame(i)

        return run

    out["kaldi_native_fbank_compute_s"] = best_of(repeats, kn(False))
    out["kaldi_native_fbank_s"] = best_of(repeats, kn(True))

    import soundfile as sf
    import torchaudio.functional as F

    def decode_resample():
        for p in spec["wav48k"]:
            data, rate = sf.read(p, dtype="float32")
            F.resample(torch.from_numpy(data), rate, 16000)

    out["soundfile_torchaudio_resample_s"] = best_of(repeats, decode_resample)

    # GTCRN's STFT (n_fft 512, hop 256, sqrt periodic Hann, centred, reflect) and its inverse, as the SE stage
    # runs them around the network.
    window = torch.hann_window(512).sqrt()

    def stft_istft():
        for w in waves:
            spec = torch.stft(w, 512, 256, 512, window, center=True, pad_mode="reflect", return_complex=True)
            torch.istft(spec, 512, 256, 512, window, center=True, length=w.numel())

    out["torch_stft_istft_s"] = best_of(repeats, stft_istft)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
