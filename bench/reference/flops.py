"""FLOPs of the paper-size TRNet per training step and per inference item, counted from the network's shapes
(torch.utils.flop_counter: convolutions and matrix products, forward and backward, 2 FLOPs per multiply-add),
and the FLOPs of the whole IEMOCAP protocol built from them. For docs/results/scale.md.

    source scripts/env.sh && "$TRNET_VENV/bin/python" bench/reference/flops.py [--frames 500] [--batch 32]

The model is scripts/reference/gen_model_fixtures.py's PyTorch statement of trnet-model (the one the known-answer
tests and bench/train.ts use). Elementwise work (BatchNorm, activations, the SNR-aware module, Adam) is not
counted: it is memory-bound, and the flop counter does not see it; the printout says how it was counted.
"""
import argparse
import json
import pathlib
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts" / "reference"))
from gen_model_fixtures import Model, losses  # noqa: E402
from torch_train_step import paper_config  # noqa: E402

VARIANTS = ["baseline-c", "baseline-n", "baseline-e", "trnet", "trnet-no-low", "trnet-no-high"]


def count(f):
    with FlopCounterMode(display=False) as m:
        f()
    return m.get_total_flops()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--bins", type=int, default=80)
    ap.add_argument("--batch", type=int, default=32)
    # The protocol (PAPER-NOTES.md): IEMOCAP 5531 utterances, 10 speakers in 5 sessions; LOSO with 4 sessions
    # training, one speaker of the fifth validating and the other testing; 80 epochs; SNRs 20..0 dB (5) per noise.
    ap.add_argument("--utterances", type=int, default=5531)
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--snrs", type=int, default=5)
    a = ap.parse_args()
    torch.manual_seed(0)
    b, t, f = a.batch, a.frames, a.bins
    xs = torch.randn(b, t, f)
    x, xe = xs + 0.5 * torch.randn(b, t, f), xs + 0.2 * torch.randn(b, t, f)
    mask = torch.ones(b, t, dtype=torch.bool)
    labels = torch.arange(b) % 4

    per = {}
    for v in VARIANTS:
        cfg = paper_config(v, f)
        model = Model(cfg)
        ref = Model(dict(cfg, variant="baseline-c"))
        ref.eval()
        for p in ref.parameters():
            p.requires_grad_(False)

        def step():
            model.train()
            out = model(x, xe, mask)
            res = losses(model, out, labels, xs, ref.encoder, mask)
            res["total"].backward()

        def infer():
            model.eval()
            with torch.no_grad():
                model(x, xe, mask)

        per[v] = {"train_step": count(step), "infer_item": count(infer) / b}

    # Items per fold: training speakers 8/10 of the corpus, validation and test 1/10 each.
    train_utts, val_utts, test_utts = a.utterances * 8 / 10, a.utterances / 10, a.utterances / 10
    grid = {}
    total = 0.0
    for v, c in per.items():
        # Baseline-c trains on clean speech only; the others on clean + one noisy copy (IEM + IEM-ESC).
        items = train_utts * (1 if v == "baseline-c" else 2)
        val_items = val_utts * (1 if v == "baseline-c" else 2)
        steps = -(-items // b) * a.epochs
        train = steps * c["train_step"]
        validate = a.epochs * val_items * c["infer_item"]
        test = test_utts * (1 + 2 * a.snrs) * c["infer_item"]
        task = train + validate + test
        grid[v] = {"steps_per_task": steps, "task_flop": task, "train_flop": train, "validation_flop": validate, "test_flop": test}
        total += task * a.folds * a.seeds
    print(json.dumps({
        "counted": "torch.utils.flop_counter (conv, matmul; forward + backward; 2 FLOP per MAC); elementwise work not counted",
        "torch": torch.__version__,
        "batch": b, "frames": t, "bins": f,
        "per_variant": per,
        "protocol": {"utterances": a.utterances, "epochs": a.epochs, "folds": a.folds, "seeds": a.seeds, "snrs": a.snrs},
        "per_task": grid,
        "grid_pflop": total / 1e15,
    }, indent=1))


if __name__ == "__main__":
    main()
