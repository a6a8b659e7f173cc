"""Writes one small generated ONNX graph as a test fixture of crates/trnet-enhance (opset 17, IR version 8, checked
by onnx.checker, kept under 20 KB: fixtures are tiny graphs with random weights, never model weights). Shared by
gen_gru_fixtures.py and gen_fuse_fixtures.py."""
import pathlib

import onnx
from onnx import helper

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/trnet-enhance/tests/fixtures"


def write_fixture(graph, producer):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name=producer)
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = OUT / f"{graph.name}.onnx"
    onnx.save(model, path)
    size = path.stat().st_size
    assert size < 20_000, f"{path} is {size} bytes"
    print(f"{path.name}: {size} bytes")
