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
- gru_folded_*: the Transposes PyTorch's export puts around a batch_first GRU in GTCRN (found in the
               whole-utterance export), which the rewriter folds into the operator:
  - gru_folded_intra: A [batch, seq, 16] -> Transpose(1,0,2) -> bidirectional GRU (H 8) -> Transpose(0,2,1,3) -> Z.
  - gru_folded_inter: A [batch, seq, 16] -> Transpose(1,0,2) -> GRU (H 16, initial_h) -> Squeeze(axes [1] from a
                      Constant) -> Transpose(1,0,2) -> Z [batch, seq, 16].
  - gru_folded_tra:   A [batch, 8, seq] -> Transpose(2,0,1) -> GRU (H 16) -> Squeeze -> Transpose(1,0,2) -> Z.
  - gru_folded_merged: gru_folded_intra's graph continued as GTCRN's intra-frame path: -> Reshape [0, 0, -1]
                      (directions merged) -> Transpose(1,0,2) -> Z [batch, seq, 16].
"""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from onnx_fixture import write_fixture

PRODUCER = "trnet gen_gru_fixtures.py"


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
    write_fixture(helper.make_graph([node], name, graph_inputs, outputs, initializer=inits), PRODUCER)


def folded(name, direction, hidden, inputs, a_perm, x_shape, squeeze, initial_h, seed, merge=False):
    """a_perm: the Transpose from the graph input A to X; squeeze: Y -> Squeeze -> Transpose(1,0,2), else
    Y -> Transpose(0,2,1,3), and with merge then Reshape [0, 0, -1] -> Transpose(1,0,2)."""
    rng = np.random.default_rng(seed)
    dirs = 2 if direction == "bidirectional" else 1
    k = 1 / np.sqrt(hidden)
    inits = [
        numpy_helper.from_array(rng.uniform(-k, k, (dirs, 3 * hidden, inputs)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.uniform(-k, k, (dirs, 3 * hidden, hidden)).astype(np.float32), "R"),
        numpy_helper.from_array(rng.uniform(-k, k, (dirs, 6 * hidden)).astype(np.float32), "B"),
    ]
    graph_inputs = [helper.make_tensor_value_info("A", TensorProto.FLOAT, x_shape)]
    nodes = [helper.make_node("Transpose", ["A"], ["X"], perm=a_perm)]
    gru_inputs = ["X", "W", "R", "B"]
    if initial_h:
        graph_inputs.append(helper.make_tensor_value_info("initial_h", TensorProto.FLOAT, [dirs, "batch", hidden]))
        gru_inputs += ["", "initial_h"]
    nodes.append(helper.make_node("GRU", gru_inputs, ["Y", "Y_h"], name="gru", hidden_size=hidden, linear_before_reset=1, direction=direction))
    if squeeze:
        axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes_value")
        nodes += [
            helper.make_node("Constant", [], ["axes"], value=axes),
            helper.make_node("Squeeze", ["Y", "axes"], ["Y_squeezed"]),
            helper.make_node("Transpose", ["Y_squeezed"], ["Z"], perm=[1, 0, 2]),
        ]
        z = helper.make_tensor_value_info("Z", TensorProto.FLOAT, ["batch", "seq", hidden])
    else:
        nodes.append(helper.make_node("Transpose", ["Y"], ["Y_t" if merge else "Z"], perm=[0, 2, 1, 3]))
        z = helper.make_tensor_value_info("Z", TensorProto.FLOAT, ["seq", "batch", dirs, hidden])
    if merge:
        merged = numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "merged_value")
        nodes += [
            helper.make_node("Constant", [], ["merged"], value=merged),
            helper.make_node("Reshape", ["Y_t", "merged"], ["Y_merged"]),
            helper.make_node("Transpose", ["Y_merged"], ["Z"], perm=[1, 0, 2]),
        ]
        z = helper.make_tensor_value_info("Z", TensorProto.FLOAT, ["batch", "seq", dirs * hidden])
    outputs = [z, helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [dirs, "batch", hidden])]
    write_fixture(helper.make_graph(nodes, name, graph_inputs, outputs, initializer=inits), PRODUCER)


save("gru_intra", "bidirectional", 8, 16, seed=1)
save("gru_inter", "forward", 16, 16, seed=2)
save("gru_tra", "forward", 16, 8, initial_h=False, seed=3)
save("gru_reverse", "reverse", 5, 3, bias=False, seed=4)
save("gru_double", "forward", 16, 16, dtype=np.float64, seed=2)
folded("gru_folded_intra", "bidirectional", 8, 16, [1, 0, 2], ["batch", "seq", 16], squeeze=False, initial_h=False, seed=5)
folded("gru_folded_inter", "forward", 16, 16, [1, 0, 2], ["batch", "seq", 16], squeeze=True, initial_h=True, seed=6)
folded("gru_folded_tra", "forward", 16, 8, [2, 0, 1], ["batch", 8, "seq"], squeeze=True, initial_h=False, seed=7)
folded("gru_folded_merged", "bidirectional", 8, 16, [1, 0, 2], ["batch", "seq", 16], squeeze=False, initial_h=False, seed=8, merge=True)
