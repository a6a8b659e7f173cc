"""Writes the PyTorch known-answer fixtures for crates/trnet-model/tests/known_answer.rs.

Run at development time with the project venv (torch 2.11.0 from scripts/requirements-native.txt):
    source scripts/env.sh && "$TRNET_VENV/bin/python" scripts/reference/gen_model_fixtures.py
It rewrites crates/trnet-model/tests/fixtures/model/ (about 0.75 MB) from fixed seeds, so reruns give the same
files. Nothing is read from anywhere else.

This file is an independent PyTorch statement of the model described in crates/trnet-model/src (encoder
blocks, attention pooling, SNR-aware module with its ε handling, FiLM bridge, losses, the six variants),
written from the paper and the Rust doc comments. Weights come from seeded generators (not from any
initialiser under test), are stored as float32 and loaded into both implementations by parameter name.
Expected values are computed in float64 from those float32 weights and inputs, so the Rust side can check
its float32 model loosely (1e-4) and a float64 copy tightly.

Files (safetensors, written by the small writer below since the venv has no safetensors package):
  inputs.safetensors      X, Xe, Xs (2 × 40 × 16, float32), labels (int64), mask (bool; utterance 1 has 29
                          real frames, the rest zero-padded), with a zero-energy column in X of utterance 0
                          and in Xe of utterance 1.
  reference.*             a Baseline-c model (config + weights): its encoder is the frozen clean reference.
  weights.safetensors     weights for the tiny TRNet config (every parameter any variant of it has).
  weights-deep.*          weights for the "deep" config (2 convs per block, attention hidden size 6).
  <case>.json             the ModelConfig of a case, plus "train" (BatchNorm mode) and "weights" (file).
  <case>.safetensors      expected outputs (out.*), losses (loss.*), gradients of the total loss for every
                          trainable parameter (grad.<name>) and, in training mode, BatchNorm running stats
                          after the step (after.<name>); all float64.
"""
import json
import pathlib
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/trnet-model/tests/fixtures/model"

TINY = {
    "variant": "trnet",
    "nMels": 16,
    "channels": [4, 8, 8, 16],
    "kernelSize": 5,
    "stride": 2,
    "convsPerBlock": 1,
    "attentionHidden": None,
    "numClasses": 3,
    "classifierInput": "calibrated",
    "noLowEncoderInput": "enhanced",
    "alpha": 0.5,
    "beta": 0.5,
    "cosineEps": 1e-8,
    "bnEps": 1e-5,
    "bnMomentum": 0.1,
    "headInit": "neutral",
}
BATCH, FRAMES = 2, 40


# ---- the model, restated in PyTorch ------------------------------------------------------------------------

class Block(nn.Module):
    """conv k×k stride s → BN [→ ReLU → conv k×k → BN]; shortcut conv 1×1 stride s → BN; ReLU(sum)."""

    def __init__(self, cin, cout, cfg):
        super().__init__()
        k, s = cfg["kernelSize"], cfg["stride"]
        self.n = cfg["convsPerBlock"]
        for j in range(self.n):
            setattr(self, f"conv{j + 1}", nn.Conv2d(cin if j == 0 else cout, cout, k, stride=s if j == 0 else 1, padding=k // 2, bias=False))
            setattr(self, f"bn{j + 1}", nn.BatchNorm2d(cout, eps=cfg["bnEps"], momentum=cfg["bnMomentum"]))
        self.shortcut = None
        if s != 1 or cin != cout:
            self.shortcut = nn.Module()
            self.shortcut.conv = nn.Conv2d(cin, cout, 1, stride=s, bias=False)
            self.shortcut.bn = nn.BatchNorm2d(cout, eps=cfg["bnEps"], momentum=cfg["bnMomentum"])

    def forward(self, x):
        y = x
        for j in range(self.n):
            if j > 0:
                y = F.relu(y)
            y = getattr(self, f"bn{j + 1}")(getattr(self, f"conv{j + 1}")(y))
        skip = self.shortcut.bn(self.shortcut.conv(x)) if self.shortcut is not None else x
        return F.relu(y + skip)


class Attention(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.hidden = nn.Linear(dim, hidden) if hidden else None
        self.score = nn.Linear(hidden or dim, 1, bias=False)

    def forward(self, x, mask):
        keys = torch.tanh(self.hidden(x)) if self.hidden is not None else x
        scores = self.score(keys).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(scores, dim=1)
        return (alpha.unsqueeze(-1) * x).sum(1), alpha


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        chans = [1] + cfg["channels"]
        self.blocks = nn.ModuleList(Block(chans[i], chans[i + 1], cfg) for i in range(len(cfg["channels"])))
        self.attention = Attention(chans[-1], cfg["attentionHidden"])
        self.stride = cfg["stride"]

    def forward(self, x, mask):
        y = x.unsqueeze(1)
        for b in self.blocks:
            y = b(y)
            if mask is not None:
                mask = mask[:, :: self.stride]
        seq = y.mean(3).transpose(1, 2)
        return self.attention(seq, mask)


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        v = cfg["variant"]
        d = cfg["channels"][-1]
        self.encoder = Encoder(cfg)
        self.classifier = nn.Linear(d, cfg["numClasses"])
        if v in ("trnet", "trnet-no-low", "trnet-no-high"):
            self.snr = nn.Module()
            self.snr.fc = nn.Linear(cfg["nMels"], 1)
        if v in ("trnet", "trnet-no-low"):
            self.film = nn.Module()
            self.film.fc1 = nn.Linear(1, d)
            self.film.fc2 = nn.Linear(1, d)

    def forward(self, x, xe, mask):
        cfg, v = self.cfg, self.cfg["variant"]
        out = {}
        c = None
        if hasattr(self, "snr"):
            eps2 = cfg["cosineEps"] ** 2
            dot = (x * xe).sum(1)
            norm = lambda t: (t.square().sum(1) + eps2).sqrt()  # noqa: E731
            d = dot / (norm(x) * norm(xe))
            c = torch.clamp(self.snr.fc(d), 0.0, 1.0).squeeze(1)
            out["c"] = c
        mixed = v in ("trnet", "trnet-no-high") or (v == "trnet-no-low" and cfg["noLowEncoderInput"] == "mixed")
        if mixed:
            cc = c.view(-1, 1, 1)
            enc_in = cc * x + (1 - cc) * xe
            out["x_tilde"] = enc_in
        elif v in ("baseline-e", "trnet-no-low"):
            enc_in = xe
        else:
            enc_in = x
        h, att = self.encoder(enc_in, mask)
        out["h"], out["attention"] = h, att
        feats = h
        if hasattr(self, "film"):
            cu = c.unsqueeze(1)
            ht = self.film.fc1(cu) * h + self.film.fc2(cu)
            out["h_tilde"] = ht
            if cfg["classifierInput"] == "calibrated":
                feats = ht
        out["logits"] = self.classifier(feats)
        return out


def losses(model, out, labels, xs, ref_encoder, mask):
    cfg, v = model.cfg, model.cfg["variant"]
    ce = F.cross_entropy(out["logits"], labels)
    total = ce
    res = {"ce": ce}
    if v in ("trnet", "trnet-no-high"):
        low = F.mse_loss(out["x_tilde"], xs)
        res["low"] = low
        total = total + cfg["alpha"] * low
    if v in ("trnet", "trnet-no-low"):
        with torch.no_grad():
            h_s, _ = ref_encoder(xs, mask)
        high = F.mse_loss(out["h_tilde"], h_s)
        res["high"] = high
        total = total + cfg["beta"] * high
    res["total"] = total
    return res


# ---- deterministic weights and inputs ----------------------------------------------------------------------

def seeded_weights(model, seed):
    """Float32 values for every state_dict entry, by name, from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    w = {}
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        shape = t.shape
        u = lambda lo, hi: lo + (hi - lo) * torch.rand(shape, generator=g)  # noqa: E731
        if name.endswith("running_var") or (".bn" in name and name.endswith("weight")) or name.endswith("shortcut.bn.weight"):
            v = u(0.5, 1.5)
        elif name.endswith("running_mean") or (".bn" in name and name.endswith("bias")) or name.endswith("shortcut.bn.bias"):
            v = 0.1 * torch.randn(shape, generator=g)
        elif name == "snr.fc.weight":
            v = 0.04 * torch.randn(shape, generator=g)  # keeps c inside (0, 1) for both utterances
        elif name == "snr.fc.bias":
            v = torch.full(shape, 0.5)
        elif name == "film.fc1.bias":
            v = 1.0 + 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = t[0].numel() if t.dim() > 1 else 1
            v = torch.randn(shape, generator=g) / fan_in ** 0.5
        w[name] = v.to(torch.float32)
    return w


def make_inputs():
    g = torch.Generator().manual_seed(7)
    xs = torch.randn(BATCH, FRAMES, TINY["nMels"], generator=g)
    x = xs + 0.6 * torch.randn(xs.shape, generator=g)
    xe = xs + 0.25 * torch.randn(xs.shape, generator=g)
    x[0, :, 3] = 0.0  # zero-energy bin in the noisy input
    xe[1, :, 5] = 0.0  # and in the enhanced one
    mask = torch.ones(BATCH, FRAMES, dtype=torch.bool)
    mask[1, 29:] = False  # the last of the 3 pooled frames (input frames 0, 16, 32) is padding
    for t in (xs, x, xe):
        t[1, 29:] = 0.0  # padded frames are zeros, as the batcher writes them
    labels = torch.tensor([2, 0], dtype=torch.int64)
    return {"x": x, "xe": xe, "xs": xs, "mask": mask, "labels": labels}


def load(model, weights):
    sd = model.state_dict()
    for name in sd:
        if name.endswith("num_batches_tracked"):
            continue
        sd[name] = weights[name].to(torch.float64)
    model.load_state_dict(sd)


# ---- safetensors writer ------------------------------------------------------------------------------------

DTYPES = {torch.float32: ("F32", "f"), torch.float64: ("F64", "d"), torch.int64: ("I64", "q"), torch.bool: ("BOOL", "?")}


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        code, fmt = DTYPES[t.dtype]
        values = t.flatten().tolist()
        blob = struct.pack(f"<{len(values)}{fmt}", *values)
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


# ---- cases -------------------------------------------------------------------------------------------------

def run_case(name, cfg, weights, weights_file, train, inputs, ref_encoder):
    model = Model(cfg).double()
    load(model, weights)
    model.train(train)
    x, xe, xs = (inputs[k].to(torch.float64) for k in ("x", "xe", "xs"))
    out = model(x, xe, inputs["mask"])
    loss = losses(model, out, inputs["labels"], xs, ref_encoder, inputs["mask"])
    model.zero_grad()
    loss["total"].backward()
    expected = {f"out.{k}": v for k, v in out.items()}
    expected.update({f"loss.{k}": v for k, v in loss.items()})
    for pname, p in model.named_parameters():
        expected[f"grad.{pname}"] = p.grad
    if train:
        for bname, b in model.named_buffers():
            if not bname.endswith("num_batches_tracked"):
                expected[f"after.{bname}"] = b
    write_safetensors(OUT / f"{name}.safetensors", {k: v.to(torch.float64) for k, v in expected.items()})
    (OUT / f"{name}.json").write_text(json.dumps({"config": cfg, "train": train, "weights": weights_file}, indent=1))
    summary = ", ".join(f"{k}={v.item():.6f}" for k, v in loss.items())
    print(f"{name}: c={out['c'].tolist() if 'c' in out else None} {summary}")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    inputs = make_inputs()
    write_safetensors(OUT / "inputs.safetensors", inputs)

    ref_cfg = dict(TINY, variant="baseline-c")
    ref = Model(ref_cfg).double()
    ref_w = seeded_weights(ref, 1001)
    load(ref, ref_w)
    ref.eval()
    write_safetensors(OUT / "reference.safetensors", ref_w)
    (OUT / "reference.json").write_text(json.dumps(ref_cfg, indent=1))

    weights = seeded_weights(Model(TINY), 2024)
    write_safetensors(OUT / "weights.safetensors", weights)
    deep_cfg = dict(TINY, convsPerBlock=2, attentionHidden=6)
    deep_w = seeded_weights(Model(deep_cfg), 77)
    write_safetensors(OUT / "weights-deep.safetensors", deep_w)

    cases = [
        ("trnet-eval", TINY, False),
        ("trnet-train", TINY, True),
        ("trnet-raw-eval", dict(TINY, classifierInput="raw"), False),
        ("trnet-no-low-eval", dict(TINY, variant="trnet-no-low"), False),
        ("trnet-no-low-mixed-eval", dict(TINY, variant="trnet-no-low", noLowEncoderInput="mixed"), False),
        ("trnet-no-high-eval", dict(TINY, variant="trnet-no-high"), False),
        ("baseline-e-eval", dict(TINY, variant="baseline-e"), False),
        ("baseline-n-train", dict(TINY, variant="baseline-n"), True),
    ]
    for name, cfg, train in cases:
        run_case(name, cfg, weights, "weights.safetensors", train, inputs, ref.encoder)
    run_case("deep-train", deep_cfg, deep_w, "weights-deep.safetensors", True, inputs, ref.encoder)
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {OUT} ({total / 1e6:.2f} MB, torch {torch.__version__})")


if __name__ == "__main__":
    main()
