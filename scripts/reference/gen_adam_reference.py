"""Prints the PyTorch reference values for crates/trnet-train/tests/adam_torch.rs.

Run at development time with the project venv (torch 2.11.0):
    source scripts/env.sh && "$TRNET_VENV/bin/python" scripts/reference/gen_adam_reference.py
and paste its output over the constants block in that test. Nothing random: parameters start at fixed
values and each step's gradient is set exactly through loss = Σ w·c_t (so ∂loss/∂w = c_t), with c_t from
an integer formula. Steps alternate between plain steps and steps with clip_grad_norm_(…, 1.0) (which
clips there: the gradient norms are well above 1). Two cases: weight_decay 0 (the Rust side must match bit
for bit) and weight_decay 0.01 (float32 rounding: PyTorch fuses add(θ, alpha=wd)).
"""
import torch

SHAPES = {"w0": (5,), "w1": (2, 3)}
STEPS = 6


def init(name, shape):
    n = 1
    for s in shape:
        n *= s
    off = 0 if name == "w0" else 5
    return torch.tensor([((k + off) * 3 % 7 - 3) / 8.0 for k in range(n)], dtype=torch.float32).reshape(shape)


def grad(name, shape, t):
    n = 1
    for s in shape:
        n *= s
    off = 0 if name == "w0" else 5
    scale = [0.5, 3.0, 40.0][(t + off) % 3]
    return torch.tensor([((k + off) * 7 + t * 13) % 17 - 8 for k in range(n)], dtype=torch.float64).mul(scale / 4.0).to(torch.float32).reshape(shape)


def run(weight_decay):
    params = {n: torch.nn.Parameter(init(n, s)) for n, s in SHAPES.items()}
    opt = torch.optim.Adam(list(params.values()), lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)
    for t in range(1, STEPS + 1):
        opt.zero_grad()
        loss = sum((p * grad(n, p.shape, t)).sum() for n, p in params.items())
        loss.backward()
        if t % 2 == 0:
            torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()
    out = {}
    for n, p in params.items():
        st = opt.state[p]
        out[n] = p.detach().flatten().tolist()
        out["m." + n] = st["exp_avg"].flatten().tolist()
        out["v." + n] = st["exp_avg_sq"].flatten().tolist()
    return out


def bits(values):
    import struct
    return ", ".join("0x%08x" % struct.unpack("<I", struct.pack("<f", v))[0] for v in values)


for wd, tag in [(0.0, "NO_DECAY"), (0.01, "DECAY")]:
    res = run(wd)
    print(f"const {tag}: &[(&str, &[u32])] = &[")
    for name in sorted(res):
        print(f'    ("{name}", &[{bits(res[name])}]),')
    print("];")
