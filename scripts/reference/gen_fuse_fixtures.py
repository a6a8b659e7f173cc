"""Writes the small models that crates/trnet-enhance/tests/onnx_fuse.rs loads twice through ONNX Runtime, as they
are and with trnet's in-memory graph rewrites (crates/trnet-enhance/src/onnx_fuse.rs), to compare the outputs. Each
holds one instance of a pattern found in GTCRN's whole-utterance export (scripts/export-gtcrn-offline.py), with seeded
random weights, and a near miss the rewrite must leave alone.

Run at development time with any Python that has `onnx` and `numpy` (the dev venv has both):
    ~/.cache/trnet/venv-dev-*/bin/python scripts/reference/gen_fuse_fixtures.py

- fuse_pad_conv:   X [1, 4, T, 9] -> Pad (time, causal: pads built the way PyTorch's F.pad exports them, with
                   ConstantOfShape, Concat, Reshape, Slice step -1, Transpose, Reshape, Cast) -> depthwise Conv (3, 3),
                   dilation (2, 1), pads (0, 1, 0, 1) -> Y1; and X -> Pad (initializer pads on both spatial axes) ->
                   Conv 4 -> 3 (1, 3) -> Y2; and X -> Pad with fill value 0.5 -> Conv -> Y3 (must stay: the Conv
                   pads with zeros).
- fuse_grouped:    X [1, 8, T, 11] -> Conv 8 -> 8, 2 groups, (1, 5), stride (1, 2), pads (0, 2, 0, 2) -> Y1; and a
                   depthwise Conv (stays) -> Y2.
- fuse_gemm:       X [1, T, 5, 6] -> Transpose (0, 2, 1, 3) -> Reshape [-1, 0, 6] -> MatMul W [6, 4] -> Add b [4]
                   -> Reshape to the Shape of mm2 = MatMul(X, W) [1, T, 5, 4] -> Y1 (GTCRN's linear layers between
                   its GRUs and LayerNorms); and Add(mm2, b) read by a Sigmoid (stays) -> Y2.
- fuse_deconv:     X [1, 8, T, W] -> ConvTranspose 8 -> 8, 2 groups, (1, 5), stride (1, 2), pads (0, 2, 0, 2) -> Y1
                   (odd output width 2W - 1); ConvTranspose 8 -> 8, (1, 4), pads (0, 1, 0, 1) -> Y2 (even, 2W);
                   ConvTranspose 8 -> 2 -> Y3 (stays: too few outputs).
"""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from onnx_fixture import write_fixture


def weights(rng, shape, name):
    return numpy_helper.from_array(rng.uniform(-0.5, 0.5, shape).astype(np.float32), name)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def const(name, values):
    return helper.make_node("Constant", [], [name], value=ints(name + "_v", values))


def save(name, nodes, inputs, outputs, inits):
    write_fixture(helper.make_graph(nodes, name, inputs, outputs, initializer=inits), "trnet gen_fuse_fixtures.py")


def f32(name, shape=None):
    # Outputs: 4-D of any size.
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape or [f"{name}_{d}" for d in "nchw"])


def pad_conv():
    rng = np.random.default_rng(1)
    nodes = [
        # F.pad(x, (0, 0, 4, 0)) as PyTorch exports it: [0, 0, 4, 0] ++ zeros(4), as pairs, reversed, transposed.
        const("p_head", [0, 0, 4, 0]),
        const("p_count", [4]),
        helper.make_node("ConstantOfShape", ["p_count"], ["p_zeros"], value=ints("zero", [0])),
        helper.make_node("Concat", ["p_head", "p_zeros"], ["p_all"], axis=0),
        const("p_pairs", [-1, 2]),
        helper.make_node("Reshape", ["p_all", "p_pairs"], ["p_2d"]),
        const("p_start", [-1]),
        const("p_end", [-9223372036854775807]),
        const("p_axis", [0]),
        const("p_step", [-1]),
        helper.make_node("Slice", ["p_2d", "p_start", "p_end", "p_axis", "p_step"], ["p_rev"]),
        helper.make_node("Transpose", ["p_rev"], ["p_t"], perm=[1, 0]),
        const("p_flat", [-1]),
        helper.make_node("Reshape", ["p_t", "p_flat"], ["p_row"]),
        helper.make_node("Cast", ["p_row"], ["pads"], to=TensorProto.INT64),
        helper.make_node("Pad", ["X", "pads", ""], ["padded"], mode="constant"),
        helper.make_node("Conv", ["padded", "dw", "dw_b"], ["Y1"], group=4, kernel_shape=[3, 3], dilations=[2, 1], pads=[0, 1, 0, 1]),
        helper.make_node("Pad", ["X", "pads2"], ["padded2"]),
        helper.make_node("Conv", ["padded2", "pw", "pw_b"], ["Y2"], kernel_shape=[1, 3]),
        helper.make_node("Pad", ["X", "pads2", "half"], ["padded3"]),
        helper.make_node("Conv", ["padded3", "pw3"], ["Y3"], kernel_shape=[1, 3]),
    ]
    inits = [
        weights(rng, (4, 1, 3, 3), "dw"),
        weights(rng, (4,), "dw_b"),
        ints("pads2", [0, 0, 1, 2, 0, 0, 3, 1]),
        weights(rng, (3, 4, 1, 3), "pw"),
        weights(rng, (3,), "pw_b"),
        numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"),
        weights(rng, (3, 4, 1, 3), "pw3"),
    ]
    save("fuse_pad_conv", nodes, [f32("X", [1, 4, "T", 9])], [f32("Y1"), f32("Y2"), f32("Y3")], inits)


def grouped():
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("Conv", ["X", "gw", "gb"], ["Y1"], group=2, kernel_shape=[1, 5], strides=[1, 2], pads=[0, 2, 0, 2]),
        helper.make_node("Conv", ["X", "dw"], ["Y2"], group=8, kernel_shape=[1, 3], pads=[0, 1, 0, 1]),
    ]
    inits = [weights(rng, (8, 4, 1, 5), "gw"), weights(rng, (8,), "gb"), weights(rng, (8, 1, 1, 3), "dw")]
    save("fuse_grouped", nodes, [f32("X", [1, 8, "T", 11])], [f32("Y1"), f32("Y2")], inits)


def gemm():
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Transpose", ["X"], ["xt"], perm=[0, 2, 1, 3]),
        helper.make_node("MatMul", ["X", "w"], ["mm2"]),
        helper.make_node("Shape", ["mm2"], ["target"]),
        const("flat", [-1, 0, 6]),
        helper.make_node("Reshape", ["xt", "flat"], ["rows"]),
        helper.make_node("MatMul", ["rows", "w"], ["mm"], name="linear/MatMul"),
        helper.make_node("Add", ["b", "mm"], ["sum"], name="linear/Add"),
        helper.make_node("Reshape", ["sum", "target"], ["Y1"]),
        helper.make_node("Add", ["mm2", "b"], ["sum2"]),
        helper.make_node("Sigmoid", ["sum2"], ["Y2"]),
    ]
    inits = [weights(rng, (6, 4), "w"), weights(rng, (4,), "b")]
    save("fuse_gemm", nodes, [f32("X", [1, "T", 5, 6])], [f32("Y1"), f32("Y2")], inits)


def deconv():
    rng = np.random.default_rng(4)
    nodes = [
        helper.make_node("ConvTranspose", ["X", "tw", "tb"], ["Y1"], group=2, kernel_shape=[1, 5], strides=[1, 2], pads=[0, 2, 0, 2], dilations=[1, 1]),
        helper.make_node("ConvTranspose", ["X", "tw4"], ["Y2"], kernel_shape=[1, 4], strides=[1, 2], pads=[0, 1, 0, 1]),
        helper.make_node("ConvTranspose", ["X", "tw2", "tb2"], ["Y3"], kernel_shape=[1, 5], strides=[1, 2], pads=[0, 2, 0, 2]),
    ]
    inits = [
        weights(rng, (8, 4, 1, 5), "tw"),
        weights(rng, (8,), "tb"),
        weights(rng, (8, 8, 1, 4), "tw4"),
        weights(rng, (8, 2, 1, 5), "tw2"),
        weights(rng, (2,), "tb2"),
    ]
    save("fuse_deconv", nodes, [f32("X", [1, 8, "T", "W"])], [f32("Y1"), f32("Y2"), f32("Y3")], inits)


if __name__ == "__main__":
    pad_conv()
    grouped()
    gemm()
    deconv()
