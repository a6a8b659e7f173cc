"""Times one training step and inference of the paper-size TRNet in PyTorch eager, for comparison with
crates/trnet-train/examples/train_speed.rs (same model, same batch, same thread count, same JSON).

    source scripts/env.sh && "$TRNET_VENV/bin/python" scripts/reference/torch_train_step.py --threads 2

The model is the PyTorch statement of trnet-model's architecture in gen_model_fixtures.py (imported, not
restated): residual conv blocks 32/64/128/256, 5×5, stride 2, frequency mean, attention pooling, SNR-aware
module, FiLM bridge, classifier. A training step = forward (train mode), CE + α·L_low + β·L_high with a
frozen reference encoder (random weights; timing does not care), zero_grad, backward, Adam step.
Inference = forward in eval mode under no_grad. Reported: the median of --steps timed runs after two
warm-up runs (inference as utterances per second at the batch size), the fastest run (*_min_s,
*_best), and the median process CPU time and minor page faults per run, the steadier figures on a machine
shared with other work. --only train|infer times one of the two. glibc malloc is whatever the environment
says at process start (bench/train.ts runs this both as it comes and with MALLOC_* tuning).
"""
import argparse
import json
import os
import pathlib
import resource
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from gen_model_fixtures import Model, losses  # noqa: E402


def paper_config(variant, n_mels):
    return {
        "variant": variant,
        "nMels": n_mels,
        "channels": [32, 64, 128, 256],
        "kernelSize": 5,
        "stride": 2,
        "convsPerBlock": 1,
        "attentionHidden": None,
        "numClasses": 4,
        "classifierInput": "calibrated",
        "noLowEncoderInput": "enhanced",
        "alpha": 0.5,
        "beta": 0.5,
        "cosineEps": 1e-8,
        "bnEps": 1e-5,
        "bnMomentum": 0.1,
        "headInit": "neutral",
    }


def usage():
    """(process CPU seconds, minor page faults) so far."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime, u.ru_minflt


def timed(warmup, steps, f):
    """Runs f warmup times untimed, then steps times: (sorted wall seconds, median CPU s, median faults)."""
    for _ in range(warmup):
        f()
    wall, cpu, faults = [], [], []
    for _ in range(steps):
        c0, f0 = usage()
        wall.append(f())
        c1, f1 = usage()
        cpu.append(c1 - c0)
        faults.append(f1 - f0)
    return sorted(wall), median(cpu), median(faults)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--bins", type=int, default=80)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--variant", default="trnet")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", default="both", choices=["both", "train", "infer"])
    # float16 autocast of forward and losses (CUDA), as trnet's --amp; no GradScaler: timing only.
    ap.add_argument("--amp", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)

    cfg = paper_config(a.variant, a.bins)
    model = Model(cfg).to(dev)
    ref = Model(dict(cfg, variant="baseline-c")).to(dev)
    ref.eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    b, t, f = a.batch, a.frames, a.bins
    xs = torch.randn(b, t, f, device=dev)
    x = xs + 0.5 * torch.randn(b, t, f, device=dev)
    xe = xs + 0.2 * torch.randn(b, t, f, device=dev)
    mask = torch.ones(b, t, dtype=torch.bool, device=dev)
    labels = torch.arange(b, device=dev) % cfg["numClasses"]

    def sync(v):
        v.sum().item()

    autocast = lambda: torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=a.amp)  # noqa: E731

    def step():
        start = time.perf_counter()
        model.train()
        with autocast():
            out = model(x, xe, mask)
            res = losses(model, out, labels, xs, ref.encoder, mask)
        opt.zero_grad()
        res["total"].backward()
        opt.step()
        sync(res["total"])
        return time.perf_counter() - start

    def infer():
        start = time.perf_counter()
        model.eval()
        with torch.no_grad(), autocast():
            out = model(x, xe, mask)
            sync(out["logits"])
        return time.perf_counter() - start

    nan = float("nan")
    train, train_cpu, train_faults = [nan], nan, nan
    if a.only != "infer":
        train, train_cpu, train_faults = timed(2, a.steps, step)
    inf, infer_cpu, infer_faults = [nan], nan, nan
    if a.only != "train":
        inf, infer_cpu, infer_faults = timed(1, a.steps, infer)
    num = lambda v: None if v != v else round(v, 4)  # noqa: E731
    ups = lambda s: num(b / s)  # noqa: E731
    print(json.dumps({
        "impl": f"pytorch eager {torch.__version__}",
        "variant": a.variant,
        "device": str(dev),
        "threads": a.threads,
        "amp": a.amp,
        # glibc reads MALLOC_* only at process start, so the environment is the whole story.
        "malloc": " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("MALLOC_")) or "default",
        "batch": b,
        "frames": t,
        "bins": f,
        "train_step_s": num(median(train)),
        "infer_utt_per_s": ups(median(inf)),
        "train_step_min_s": num(train[0]),
        "infer_utt_per_s_best": ups(inf[0]),
        "train_step_cpu_s": num(train_cpu),
        "infer_cpu_utt_per_s": ups(infer_cpu),
        "train_step_faults": num(train_faults),
        "infer_faults": num(infer_faults),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }))


if __name__ == "__main__":
    main()
