#!/usr/bin/env python3
"""Whole-utterance (non-streaming) ONNX export of GTCRN (Rong et al., ICASSP 2024).

GTCRN's published ONNX export is streaming: one STFT frame per call, with the convolution and GRU state passed
in and out. Run over an utterance from Rust that costs one `session.run` per 16 ms frame, and most of the time
goes into per-call overhead rather than arithmetic. This script rebuilds the network in PyTorch (written here
from the paper and the checkpoint's layout, not copied from the GTCRN repository), loads a checkpoint into it
strictly, and exports it with a dynamic frame axis, so the Rust enhancer runs a whole utterance in one call:

    input  mix  float32 [1, 257, T, 2]   STFT bins x frames x (real, imag)
    output enh  float32 [1, 257, T, 2]   enhanced spectrum, same layout, no frame delay

The network is causal along time, so on the same spectrum it gives the streaming export's outputs frame for
frame. With --stream-onnx the script checks the written file against the streaming export on real recordings
(--wav, repeatable) and deletes it if they differ by more than --tolerance. Needs torch, onnx (torch's
TorchScript exporter imports it), and for the check numpy, soundfile and onnxruntime: the dev venv,
`PY=$(scripts/setup-dev.sh)`. `scripts/export-gtcrn-offline.sh` runs it there with the check.

Usage:
    python scripts/export-gtcrn-offline.py [--checkpoint CKPT] [--out FILE] [--force]
                                           [--stream-onnx ONNX --wav WAV [--wav WAV ...]]
Defaults: the shared DNS3 checkpoint the streaming export was made from
($TRNET_SHARED/models/gtcrn/stream_model_trained_on_dns3.tar) and
$TRNET_CACHE/models/gtcrn-offline-v<EXPORT_VERSION>-<first 16 hex of the checkpoint's SHA-256>.onnx. An existing
output is kept (it was checked when written) unless --force. The output path is printed on the last line of
stdout.
"""

import argparse
import hashlib
import os
import sys
from pathlib import Path

import torch
from torch import nn

# Part of the default file name: bump it when a change here changes the exported graph.
EXPORT_VERSION = 1

# ---------------------------------------------------------------------------------------------------------
# The network. Tensors inside are (batch, channels, frames, bins) unless said otherwise.


class ERB(nn.Module):
    """Band merge/split: bins 0-64 pass through, bins 65-256 go through fixed (checkpoint) ERB matrices."""

    def __init__(self, low=65, high=192, bands=64):
        super().__init__()
        self.low = low
        self.erb_fc = nn.Linear(high, bands, bias=False)
        self.ierb_fc = nn.Linear(bands, high, bias=False)

    def merge(self, x):  # (..., 257) -> (..., 129)
        return torch.cat([x[..., : self.low], self.erb_fc(x[..., self.low :])], dim=-1)

    def split(self, x):  # (..., 129) -> (..., 257)
        return torch.cat([x[..., : self.low], self.ierb_fc(x[..., self.low :])], dim=-1)


def subband_unfold(x, k=3):
    """SFE: each bin gets its k-bin neighbourhood (zero beyond the edges) as channels: (B, C, T, F) -> (B, C*k, T, F),
    channel c*k + j holding bin f + j - k//2 of input channel c."""
    f = x.shape[-1]
    pad = nn.functional.pad(x, (k // 2, k // 2))
    return torch.stack([pad[..., j : j + f] for j in range(k)], dim=2).flatten(1, 2)


class ConvBlock(nn.Module):
    """(Transposed) convolution along frequency, batch norm, PReLU (tanh for the output block)."""

    def __init__(self, cin, cout, groups=1, deconv=False, last=False):
        super().__init__()
        conv = nn.ConvTranspose2d if deconv else nn.Conv2d
        self.conv = conv(cin, cout, (1, 5), stride=(1, 2), padding=(0, 2), groups=groups)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.Tanh() if last else nn.PReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class TRA(nn.Module):
    """Temporal recurrent attention: a GRU over each channel's mean energy per frame gates the channels."""

    def __init__(self, channels):
        super().__init__()
        self.att_gru = nn.GRU(channels, channels * 2, 1, batch_first=True)
        self.att_fc = nn.Linear(channels * 2, channels)

    def forward(self, x):
        energy = x.pow(2).mean(dim=-1).transpose(1, 2)  # (B, T, C)
        gate = torch.sigmoid(self.att_fc(self.att_gru(energy)[0])).transpose(1, 2)  # (B, C, T)
        return x * gate.unsqueeze(-1)


class GTConvBlock(nn.Module):
    """Grouped temporal convolution: the first half of the channels goes through SFE, point conv, a causal
    dilated depthwise (3, 3) conv, point conv and TRA; the second half passes; the halves are interleaved."""

    def __init__(self, channels, hidden, dilation, deconv=False):
        super().__init__()
        conv = nn.ConvTranspose2d if deconv else nn.Conv2d
        half = channels // 2
        self.pad = 2 * dilation  # (kernel 3 - 1) * dilation frames of history
        self.point_conv1 = conv(half * 3, hidden, 1)
        self.point_bn1 = nn.BatchNorm2d(hidden)
        self.point_act = nn.PReLU()
        # Transposed: padding 2*dilation on the time axis trims the output back to T (a causal conv with the
        # kernel flipped); ordinary: no time padding, the input is left-padded instead.
        self.depth_conv = conv(hidden, hidden, (3, 3), padding=(self.pad if deconv else 0, 1), dilation=(dilation, 1), groups=hidden)
        self.depth_bn = nn.BatchNorm2d(hidden)
        self.depth_act = nn.PReLU()
        self.point_conv2 = conv(hidden, half, 1)
        self.point_bn2 = nn.BatchNorm2d(half)
        self.tra = TRA(half)

    sfe_folded = False  # set by `for_inference` once SFE is part of point_conv1

    def forward(self, x):
        x1, x2 = torch.chunk(x, 2, dim=1)
        h = self.point_act(self.point_bn1(self.point_conv1(x1 if self.sfe_folded else subband_unfold(x1))))
        h = nn.functional.pad(h, (0, 0, self.pad, 0))
        h = self.depth_act(self.depth_bn(self.depth_conv(h)))
        h = self.tra(self.point_bn2(self.point_conv2(h)))
        return torch.stack([h, x2], dim=2).flatten(1, 2)  # h0, x2_0, h1, x2_1, ...


class GroupedGRU(nn.Module):
    """Two GRUs, each on half of the features."""

    def __init__(self, features, hidden, bidirectional):
        super().__init__()
        self.rnn1 = nn.GRU(features // 2, hidden // 2, 1, batch_first=True, bidirectional=bidirectional)
        self.rnn2 = nn.GRU(features // 2, hidden // 2, 1, batch_first=True, bidirectional=bidirectional)

    def forward(self, x):
        x1, x2 = torch.chunk(x, 2, dim=-1)
        return torch.cat([self.rnn1(x1)[0], self.rnn2(x2)[0]], dim=-1)


class DPGRNN(nn.Module):
    """Dual-path grouped RNN: bidirectional across bins within a frame, then causal across frames per bin."""

    def __init__(self, channels=16, bins=33):
        super().__init__()
        self.intra_rnn = GroupedGRU(channels, channels // 2, bidirectional=True)
        self.intra_fc = nn.Linear(channels, channels)
        self.intra_ln = nn.LayerNorm((bins, channels), eps=1e-8)
        self.inter_rnn = GroupedGRU(channels, channels, bidirectional=False)
        self.inter_fc = nn.Linear(channels, channels)
        self.inter_ln = nn.LayerNorm((bins, channels), eps=1e-8)

    def forward(self, x):
        # flatten/reshape_as rather than sizes read from shapes: fewer shape-arithmetic nodes in the export.
        x = x.permute(0, 2, 3, 1)  # (B, T, F, C)
        intra = self.intra_fc(self.intra_rnn(x.flatten(0, 1))).reshape_as(x)
        x = x + self.intra_ln(intra)
        by_bin = x.permute(0, 2, 1, 3)  # (B, F, T, C)
        inter = self.inter_fc(self.inter_rnn(by_bin.flatten(0, 1))).reshape_as(by_bin).permute(0, 2, 1, 3)
        x = x + self.inter_ln(inter)
        return x.permute(0, 3, 1, 2)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.en_convs = nn.ModuleList(
            [ConvBlock(9, 16), ConvBlock(16, 16, groups=2)] + [GTConvBlock(16, 16, d) for d in (1, 2, 5)]
        )

    def forward(self, x):
        skips = []
        for layer in self.en_convs:
            x = layer(x)
            skips.append(x)
        return x, skips


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.de_convs = nn.ModuleList(
            [GTConvBlock(16, 16, d, deconv=True) for d in (5, 2, 1)]
            + [ConvBlock(16, 16, groups=2, deconv=True), ConvBlock(16, 2, deconv=True, last=True)]
        )

    def forward(self, x, skips):
        for layer, skip in zip(self.de_convs, reversed(skips)):
            x = layer(x + skip)
        return x


class GTCRN(nn.Module):
    def __init__(self):
        super().__init__()
        self.erb = ERB()
        self.encoder = Encoder()
        self.dpgrnn1 = DPGRNN()
        self.dpgrnn2 = DPGRNN()
        self.decoder = Decoder()

    def forward(self, mix):  # (1, 257, T, 2) -> (1, 257, T, 2)
        spec = mix.permute(0, 3, 2, 1)  # (B, 2, T, F)
        re, im = spec[:, 0], spec[:, 1]
        mag = torch.sqrt(re * re + im * im + 1e-12)
        feat = subband_unfold(self.erb.merge(torch.stack([mag, re, im], dim=1)))
        feat, skips = self.encoder(feat)
        feat = self.dpgrnn2(self.dpgrnn1(feat))
        mask = self.erb.split(self.decoder(feat, skips))  # (B, 2, T, 257), tanh-bounded complex ratio mask
        m_re, m_im = mask[:, 0], mask[:, 1]
        enh = torch.stack([re * m_re - im * m_im, im * m_re + re * m_im], dim=-1)  # (B, T, F, 2)
        return enh.transpose(1, 2)


# ---------------------------------------------------------------------------------------------------------
# Inference form: the same function with fewer, cheaper ONNX nodes. Every rewrite is exact up to float rounding.
# Measured with onnxruntime on one thread, most of the time of the plain graph went into per-node overhead
# (GRU steps, transposes, PReLU broadcasting), not arithmetic.


def fold_bn(conv, bn):
    """Batch norm (inference statistics) folded into the preceding (transposed) convolution."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    w = conv.weight.detach()
    if isinstance(conv, nn.ConvTranspose2d):  # weight (in, out/groups, kh, kw)
        g, (cin, opg) = conv.groups, w.shape[:2]
        w = (w.reshape(g, cin // g, opg, *w.shape[2:]) * scale.reshape(g, 1, opg, 1, 1)).reshape(w.shape)
    else:  # weight (out, in/groups, kh, kw)
        w = w * scale.reshape(-1, 1, 1, 1)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(shift)
    conv.weight = nn.Parameter(w.clone())
    conv.bias = nn.Parameter(bias * scale + shift)
    return nn.Identity()


def as_conv(t):
    """A stride-1 transposed convolution as the equivalent ordinary one (kernel flipped, padding complemented)."""
    assert t.stride == (1, 1) and t.output_padding == (0, 0)
    g, (cin, opg, kh, kw) = t.groups, t.weight.shape
    w = t.weight.detach().reshape(g, cin // g, opg, kh, kw).transpose(1, 2).reshape(g * opg, cin // g, kh, kw).flip(2, 3)
    pad = (t.dilation[0] * (kh - 1) - t.padding[0], t.dilation[1] * (kw - 1) - t.padding[1])
    c = nn.Conv2d(cin, g * opg, (kh, kw), padding=pad, dilation=t.dilation, groups=g)
    c.weight = nn.Parameter(w.clone())
    c.bias = nn.Parameter(t.bias.detach().clone())
    return c


def fold_sfe(point):
    """SFE (3-bin neighbourhood as channels) followed by a 1x1 conv is one (1, 3) conv over the original channels:
    input channel c*3 + j of the 1x1 conv is bin f + j - 1 of channel c, zero beyond the edges, as with padding 1."""
    cout, cin3 = point.weight.shape[:2]
    c = nn.Conv2d(cin3 // 3, cout, (1, 3), padding=(0, 1))
    c.weight = nn.Parameter(point.weight.detach().reshape(cout, cin3 // 3, 1, 3).clone())
    c.bias = nn.Parameter(point.bias.detach().clone())
    return c


def as_leaky(prelu):
    """PReLU with one learned slope is LeakyReLU with that slope as a constant (a cheaper, fusable ONNX op)."""
    assert prelu.weight.numel() == 1
    return nn.LeakyReLU(float(prelu.weight))


def merge_grus(a, b):
    """Two GRUs on the two halves of the input as one GRU with block-diagonal weights (gates are element-wise, so
    the halves never mix). Output order: unidirectional [a, b] as before; bidirectional [a→, b→, a←, b←] instead
    of [a→, a←, b→, b←] (see `permutation`)."""
    i, h, bi = a.input_size, a.hidden_size, a.bidirectional
    m = nn.GRU(2 * i, 2 * h, 1, batch_first=True, bidirectional=bi)
    for suffix in ["_l0"] + (["_l0_reverse"] if bi else []):
        wih, whh = torch.zeros(6 * h, 2 * i), torch.zeros(6 * h, 2 * h)
        bih, bhh = torch.zeros(6 * h), torch.zeros(6 * h)
        for gate in range(3):  # r, z, n blocks of h rows each
            src = slice(gate * h, (gate + 1) * h)
            for k, rnn in enumerate((a, b)):
                dst = slice(gate * 2 * h + k * h, gate * 2 * h + (k + 1) * h)
                wih[dst, k * i : (k + 1) * i] = getattr(rnn, "weight_ih" + suffix)[src]
                whh[dst, k * h : (k + 1) * h] = getattr(rnn, "weight_hh" + suffix)[src]
                bih[dst] = getattr(rnn, "bias_ih" + suffix)[src]
                bhh[dst] = getattr(rnn, "bias_hh" + suffix)[src]
        for name, value in (("weight_ih", wih), ("weight_hh", whh), ("bias_ih", bih), ("bias_hh", bhh)):
            setattr(m, name + suffix, nn.Parameter(value))
    return m


class MergedGRU(nn.Module):
    def __init__(self, grouped):
        super().__init__()
        self.rnn = merge_grus(grouped.rnn1, grouped.rnn2)

    def forward(self, x):
        return self.rnn(x)[0]


def for_inference(model):
    """A copy of `model` rewritten for export: BN folded into convs, stride-1 transposed convs as convs, SFE folded
    into the following point conv, PReLU as LeakyReLU, grouped GRUs merged."""
    import copy

    model = copy.deepcopy(model).eval()
    with torch.no_grad():
        for block in list(model.encoder.en_convs) + list(model.decoder.de_convs):
            if isinstance(block, ConvBlock):
                block.bn = fold_bn(block.conv, block.bn)
                if isinstance(block.act, nn.PReLU):
                    block.act = as_leaky(block.act)
                continue
            for conv in ("point_conv1", "depth_conv", "point_conv2"):
                if isinstance(getattr(block, conv), nn.ConvTranspose2d):
                    setattr(block, conv, as_conv(getattr(block, conv)))
            block.point_conv1, block.sfe_folded = fold_sfe(block.point_conv1), True
            block.point_bn1 = fold_bn(block.point_conv1, block.point_bn1)
            block.depth_bn = fold_bn(block.depth_conv, block.depth_bn)
            block.point_bn2 = fold_bn(block.point_conv2, block.point_bn2)
            block.point_act, block.depth_act = as_leaky(block.point_act), as_leaky(block.depth_act)
        for dp in (model.dpgrnn1, model.dpgrnn2):
            h = dp.intra_rnn.rnn1.hidden_size
            # merged channel k holds original channel order[k]: [a→, b→, a←, b←] vs [a→, a←, b→, b←]
            order = [*range(0, h), *range(2 * h, 3 * h), *range(h, 2 * h), *range(3 * h, 4 * h)]
            dp.intra_fc.weight = nn.Parameter(dp.intra_fc.weight.detach()[:, order].clone())
            dp.intra_rnn = MergedGRU(dp.intra_rnn)
            dp.inter_rnn = MergedGRU(dp.inter_rnn)
    return model


# ---------------------------------------------------------------------------------------------------------
# Checkpoint, reference check, export.


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def load(checkpoint):
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = state.get("model", state)
    model = GTCRN()
    model.load_state_dict(state, strict=True)
    return model.eval()


def stft(wave):
    window = torch.hann_window(512).pow(0.5)
    spec = torch.stft(wave, 512, 256, 512, window=window, center=True, pad_mode="reflect", return_complex=True)
    return torch.view_as_real(spec).unsqueeze(0)  # (1, 257, T, 2)


def check_against_stream(exported, stream_onnx, wav, seconds):
    """Runs the streaming export frame by frame (all caches zero at the start, `*_out` fed back) and the exported
    whole-utterance model on the spectrum of `wav`. Returns (largest absolute difference, the frame it is in,
    the largest absolute output value, number of frames)."""
    import numpy as np
    import onnxruntime as ort
    import soundfile as sf

    wave, rate = sf.read(wav, dtype="float32", always_2d=True)
    if rate != 16000:
        raise SystemExit(f"{wav}: {rate} Hz; the check needs a 16 kHz file")
    x = stft(torch.from_numpy(wave.mean(axis=1)[: int(seconds * rate)].copy())).numpy()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    offline = ort.InferenceSession(str(exported), options, providers=["CPUExecutionProvider"]).run(["enh"], {"mix": x})[0]
    session = ort.InferenceSession(str(stream_onnx), options, providers=["CPUExecutionProvider"])
    states = [i.name for i in session.get_inputs() if i.name != "mix"]
    caches = {s: np.zeros(i.shape, np.float32) for s, i in zip(states, (i for i in session.get_inputs() if i.name != "mix"))}
    frames = []
    for t in range(x.shape[2]):
        enh, *new = session.run(["enh"] + [s + "_out" for s in states], {"mix": x[:, :, t : t + 1], **caches})
        frames.append(enh)
        caches = dict(zip(states, new))
    stream = np.concatenate(frames, axis=2)
    per_frame = np.abs(stream - offline).max(axis=(0, 1, 3))
    return float(per_frame.max()), int(per_frame.argmax()), float(np.abs(stream).max()), x.shape[2]


def export(model, out):
    """Exports the inference form of `model` to `out` (written beside it and renamed into place, so a reader never
    sees a half-written file)."""
    import warnings

    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The legacy-exporter deprecation notice, and a GRU batch-size note that does not apply (no initial
            # state is exported; the GRU batch axes are derived from the frame count and work for every T).
            warnings.simplefilter("ignore")
            torch.onnx.export(
                for_inference(model),
                (torch.zeros(1, 257, 63, 2),),
                str(tmp),
                input_names=["mix"],
                output_names=["enh"],
                dynamic_axes={"mix": {2: "frames"}, "enh": {2: "frames"}},
                opset_version=17,
                dynamo=False,
            )
        # The exporter cannot prove the output's batch axis is 1 and leaves it symbolic; it is.
        proto = onnx.load(str(tmp))
        proto.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 1
        proto.doc_string = "GTCRN (Rong et al., ICASSP 2024), whole-utterance export by trnet scripts/export-gtcrn-offline.py"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def main():
    root = Path(__file__).resolve().parent.parent
    shared = Path(os.environ.get("TRNET_SHARED", root.parent / "shared"))
    cache = Path(os.environ.get("TRNET_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trnet"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=shared / "models/gtcrn/stream_model_trained_on_dns3.tar")
    p.add_argument("--out", type=Path, help=f"default: $TRNET_CACHE/models/gtcrn-offline-v{EXPORT_VERSION}-<checkpoint sha256, 16 hex>.onnx")
    p.add_argument("--stream-onnx", type=Path, help="streaming export of the same checkpoint to check the export against")
    p.add_argument("--wav", type=Path, action="append", help="16 kHz utterance for the check (repeatable)")
    p.add_argument("--seconds", type=float, default=10.0, help="at most this much of each --wav (default 10 s)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted output difference (default 1e-4)")
    p.add_argument("--force", action="store_true", help="export even if the output file exists")
    args = p.parse_args()

    if not args.checkpoint.is_file():
        raise SystemExit(f"no checkpoint at {args.checkpoint}; pass --checkpoint or set TRNET_SHARED")
    if args.stream_onnx and not args.wav:
        raise SystemExit("--stream-onnx needs at least one --wav")
    digest = sha256(args.checkpoint)
    out = args.out or cache / "models" / f"gtcrn-offline-v{EXPORT_VERSION}-{digest[:16]}.onnx"
    if out.is_file() and not args.force:
        # It was checked when it was written; --force redoes both.
        print(f"export-gtcrn-offline: {out} exists (checkpoint sha256 {digest}); --force rewrites it", file=sys.stderr)
        print(out)
        return
    export(load(args.checkpoint), out)
    print(f"export-gtcrn-offline: {args.checkpoint} (sha256 {digest}) -> {out}", file=sys.stderr)
    for wav in args.wav or []:
        diff, frame, peak, frames = check_against_stream(out, args.stream_onnx, wav, args.seconds)
        print(f"export-gtcrn-offline: vs {args.stream_onnx.name} frame by frame on {wav.name} ({frames} frames): max |diff| {diff:.3g} (frame {frame}), output peak {peak:.3g}", file=sys.stderr)
        if not diff <= args.tolerance:
            out.unlink()
            raise SystemExit(f"export-gtcrn-offline: the export differs from {args.stream_onnx} by {diff:.3g} > {args.tolerance}; removed {out}")
    print(out)


if __name__ == "__main__":
    main()
