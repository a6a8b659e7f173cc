"""The Python pipeline bench/predict.ts measures trnet's `model.predict` against: decode → SE (the same
whole-utterance GTCRN ONNX through onnxruntime) → Kaldi fbank (torchaudio) → the same network in PyTorch eager
(scripts/reference/gen_model_fixtures.py's Model, the trained weights loaded from the checkpoint's
model.safetensors by parameter name), each step as trnet's predict does it:

  decode 16 kHz mono → cut to (frames + 1) · 160 + 400 samples → STFT (512, hop 256, √Hann, centred, reflect)
  → ONNX `mix` [1, 257, T, 2] → `enh` → iSTFT to the input's length → kaldi.fbank (80 bins, 25/10 ms) of the
  input and of the enhanced audio → cut or zero-pad to `frames`, mask of the real frames → forward (eval mode,
  inference_mode) → softmax, c.

Decoding: soundfile (libsndfile), as torchaudio.load did before 2.9; torchaudio 2.11's load needs TorchCodec and
FFmpeg, which the dev venv does not have.

Input: argv[1], a JSON manifest {"clips": [paths], "checkpoint": dir, "onnx": path, "frames": 500,
"threads": N, "repeats": R, "warmup": W, "batch": [paths] or []}. Prints one JSON object: per-clip latency
(ms, every timed run), per-stage medians, process CPU ms per clip, batch seconds, and each clip's probabilities
and c (bench/predict.ts checks they equal trnet's). Run by bench/predict.ts with the dev venv.
"""
import json
import pathlib
import resource
import statistics
import struct
import sys
import time

import numpy as np
import onnxruntime as ort
import soundfile as sf
import torch
import torchaudio.compliance.kaldi as kaldi

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts/reference"))
from gen_model_fixtures import Model  # noqa: E402

RATE = 16000
N_FFT, HOP = 512, 256


def read_safetensors(path):
    """name → float32 tensor (the checkpoint writes float32 only; the venv has no safetensors package)."""
    data = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = memoryview(data)[8 + n :]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {meta['dtype']}, expected F32")
        a, b = meta["data_offsets"]
        out[name] = torch.frombuffer(bytearray(body[a:b]), dtype=torch.float32).reshape(meta["shape"])
    return out


def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def cpu_ms():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return (u.ru_utime + u.ru_stime) * 1000


class Pipeline:
    def __init__(self, spec):
        ckpt = pathlib.Path(spec["checkpoint"])
        self.cfg = json.loads((ckpt / "config.json").read_text())
        self.model = Model(self.cfg)
        weights = read_safetensors(ckpt / "model.safetensors")
        state = self.model.state_dict()
        for name in state:
            if not name.endswith("num_batches_tracked"):
                state[name] = weights[name]
        self.model.load_state_dict(state)
        self.model.eval()
        self.frames = spec["frames"]
        self.kept = (self.frames + 1) * 160 + 400
        so = ort.SessionOptions()
        so.intra_op_num_threads = spec["threads"]
        so.inter_op_num_threads = 1
        # No spinning between runs, as trnet's sessions: spinning ORT threads would take cores from torch's.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(spec["onnx"], so, providers=["CPUExecutionProvider"])
        self.window = torch.hann_window(N_FFT, periodic=True).sqrt()
        self.needs_xe = self.cfg["variant"] not in ("baseline-c", "baseline-n")

    def decode(self, path):
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        if rate != RATE:
            raise ValueError(f"{path}: {rate} Hz; the bench writes 16 kHz clips")
        return torch.from_numpy(data.mean(axis=1) if data.shape[1] > 1 else data[:, 0])[: self.kept]

    def enhance(self, wave):
        spec = torch.stft(wave, N_FFT, HOP, N_FFT, self.window, center=True, pad_mode="reflect", return_complex=True)
        mix = torch.view_as_real(spec).unsqueeze(0).numpy()  # [1, 257, T, 2]
        (enh,) = self.session.run(["enh"], {"mix": mix})
        enh = torch.view_as_complex(torch.from_numpy(enh[0]).contiguous())
        return torch.istft(enh, N_FFT, HOP, N_FFT, self.window, center=True, length=wave.shape[0])

    def fbank(self, wave):
        return kaldi.fbank(wave.unsqueeze(0), num_mel_bins=80, frame_length=25.0, frame_shift=10.0)

    def fix(self, feats):
        """Cut or zero-pad to `frames` (trnet_dsp::frames::fix_frames with zero padding) and the valid count."""
        t = feats.shape[0]
        if t >= self.frames:
            return feats[: self.frames], self.frames
        return torch.nn.functional.pad(feats, (0, 0, 0, self.frames - t)), t

    def forward(self, xs, xes, valid):
        mask = torch.zeros(len(valid), self.frames, dtype=torch.bool)
        for i, v in enumerate(valid):
            mask[i, :v] = True
        x = torch.stack(xs)
        xe = torch.stack(xes) if xes else x
        with torch.inference_mode():
            out = self.model(x, xe, mask)
        probs = torch.softmax(out["logits"], dim=1)
        c = out.get("c")
        return [(probs[i].tolist(), None if c is None else float(c[i])) for i in range(len(valid))]

    def predict(self, paths, times=None, cpu=None):
        """The whole pipeline for `paths` (one batch), adding each stage's wall and CPU ms to `times`, `cpu`."""
        mark = [time.perf_counter(), cpu_ms()]

        def lap(stage):
            now, c = time.perf_counter(), cpu_ms()
            if times is not None:
                times[stage] += (now - mark[0]) * 1000
                cpu[stage] += c - mark[1]
            mark[0], mark[1] = now, c

        waves = [self.decode(p) for p in paths]
        lap("decode")
        enhanced = [self.enhance(w) for w in waves] if self.needs_xe else []
        lap("enhance")
        xs, valid = zip(*(self.fix(self.fbank(w)) for w in waves))
        xes = [self.fix(self.fbank(e))[0] for e in enhanced]
        lap("fbank")
        out = self.forward(list(xs), xes, valid)
        lap("forward")
        return out


def main():
    spec = json.load(open(sys.argv[1]))
    torch.set_num_threads(spec["threads"])
    t0 = time.perf_counter()
    pipe = Pipeline(spec)
    load_ms = (time.perf_counter() - t0) * 1000
    clips, repeats = spec["clips"], spec["repeats"]
    first = dict.fromkeys(("decode", "enhance", "fbank", "forward", "overhead", "total"), 0.0)
    first_cpu = dict(first)
    t0, c0 = time.perf_counter(), cpu_ms()
    pipe.predict([clips[0]], first, first_cpu)
    first["total"] = (time.perf_counter() - t0) * 1000
    first_cpu["total"] = cpu_ms() - c0
    for t in (first, first_cpu):
        t["overhead"] = t["total"] - sum(t[k] for k in ("decode", "enhance", "fbank", "forward"))
    for _ in range(spec["warmup"] - 1):
        pipe.predict([clips[0]])
    latency, cpu, faulted = [], [], []
    names = ("decode", "enhance", "fbank", "forward", "overhead", "total")
    stages = {k: [] for k in names}
    stages_cpu = {k: [] for k in names}
    for _ in range(repeats):
        for clip in clips:
            times, times_cpu = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0)
            f0, c0, t0 = faults(), cpu_ms(), time.perf_counter()
            pipe.predict([clip], times, times_cpu)
            times["total"] = (time.perf_counter() - t0) * 1000
            times_cpu["total"] = cpu_ms() - c0
            faulted.append(faults() - f0)
            for t in (times, times_cpu):
                t["overhead"] = t["total"] - sum(t[k] for k in names[:4])
            cpu.append(times_cpu["total"])
            latency.append(times["total"])
            for k in names:
                stages[k].append(times[k])
                stages_cpu[k].append(times_cpu[k])
    batch_s = []
    if spec["batch"]:
        for _ in range(max(1, repeats // 2)):
            t0 = time.perf_counter()
            pipe.predict(spec["batch"])
            batch_s.append(time.perf_counter() - t0)
    outputs = pipe.predict(clips)
    print(json.dumps({
        "impl": f"torch {torch.__version__}, onnxruntime {ort.__version__}, torchaudio kaldi.fbank, soundfile {sf.__version__}",
        "threads": torch.get_num_threads(),
        "latency_ms": latency,
        "cpu_ms": cpu,
        "faults": faulted,
        "load_ms": load_ms,
        "first_ms": first["total"],
        "first_stages_ms": first,
        "first_stages_cpu_ms": first_cpu,
        "stages_ms": {k: statistics.median(v) for k, v in stages.items()},
        "stages_cpu_ms": {k: statistics.median(v) for k, v in stages_cpu.items()},
        "batch_s": batch_s,
        "probs": [p for p, _ in outputs],
        "c": [c for _, c in outputs],
    }))


if __name__ == "__main__":
    main()
