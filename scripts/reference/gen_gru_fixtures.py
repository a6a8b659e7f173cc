"""Writes the one-node GRU models that crates/trnet-enhance/tests/fast_gru.rs runs through ONNX Runtime twice (its
own GRU kernel, and trnet's FastGRU operator the session rewrites the node to) to compare them.

Run at development time with any Python that has `onnx` and `numpy` (the dev venv has both):
    ~/.cache/trnet/venv-dev-*/bin/python scripts/reference/gen_gru_fixtures.py

Every model: X [seq, batch, I] (both dynamic) -> Y [seq, dirs, batch, H], Y_h [dirs, batch, H], with W, R, B as
seeded random initializers (uniform ±1/sqrt(H), PyTorch's GRU init) and linear_before_reset = 1. The shapes are
GTCRN's (scripts/export-gtcrn-offline.py):
- gru_intra:   bidirectional, H 8, I 16, with initial_h (GTCRN's intra-frame GRUs; run on seq 33, batch 313).
- gru_inter:   forward, H 16, I 16, with initial_h (inter-frame GRUs; seq 313, batch 33).
- gru_tra:     forward, H 16, I 8, no initial_h input (TRA attention GRUs; seq 313, batch 1).
- gru_reverse: reverse, H 5, I 3, no B (the other direction and the optional bias).
- gru_double:  gru_inter in float64: the rewriter reroutes it (it does not know types) and the float32 operator
               cannot take it, so loading with the fast GRU must fail with TRNET_FAST_GRU.
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/trnet-enhance/tests/fixtures"


def save(name, direction, hidden, inputs, initial_h=True, bias=True, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    dirs = 2 if direction == "bidirectional" else 1
    k = 1 / np.sqrt(hidden)
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    inits = [
        numpy_helper.from_array(rng.uniform(-k, k, (dirs, 3 * hidden, inputs)).astype(dtype), "W"),
        numpy_helper.from_array(rng.uniform(-k, k, (dirs, 3 * hidden, hidden)).astype(dtype), "R"),
    ]
    if bias:
        inits.append(numpy_helper.from_array(rng.uniform(-k, k, (dirs, 6 * hidden)).astype(dtype), "B"))
    graph_inputs = [helper.make_tensor_value_info("X", elem, ["seq", "batch", inputs])]
    node_inputs = ["X", "W", "R", "B" if bias else ""]
    if initial_h:
        graph_inputs.append(helper.make_tensor_value_info("initial_h", elem, [dirs, "batch", hidden]))
        node_inputs += ["", "initial_h"]
    node = helper.make_node("GRU", node_inputs, ["Y", "Y_h"], name="gru", hidden_size=hidden, linear_before_reset=1, direction=direction)
    outputs = [
        helper.make_tensor_value_info("Y", elem, ["seq", dirs, "batch", hidden]),
        helper.make_tensor_value_info("Y_h", elem, [dirs, "batch", hidden]),
    ]
    graph = helper.make_graph([node], name, graph_inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="trnet gen_gru_fixtures.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = OUT / f"{name}.onnx"
    onnx.save(model, path)
    size = path.stat().st_size
    assert size < 20_000, f"{path} is {size} bytes"
    print(f"{path.name}: {size} bytes")


save("gru_intra", "bidirectional", 8, 16, seed=1)
save("gru_inter", "forward", 16, 16, seed=2)
save("gru_tra", "forward", 16, 8, initial_h=False, seed=3)
save("gru_reverse", "reverse", 5, 3, bias=False, seed=4)
save("gru_double", "forward", 16, 16, dtype=np.float64, seed=2)
