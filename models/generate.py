#!/usr/bin/env python3
"""Regenerate the anomaly detector in both formats simrun serves.

The edge gets `anomaly_detector.onnx` (run by ONNX Runtime), the cloud gets
`anomaly_detector.safetensors` (run by candle). Both hold the same weights:
Linear(32,16) -> ReLU -> Linear(16,1) -> Sigmoid. The safetensors file stores
weights only and names its architecture in the header metadata, so loading it
executes no code.

Weights come from a fixed seed, so the files are reproducible byte for byte
with the pinned packages in requirements.txt:

    python3 -m venv /tmp/modelgen
    /tmp/modelgen/bin/pip install -r models/requirements.txt
    /tmp/modelgen/bin/python models/generate.py
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import json
import struct

SEED = 20251115
INPUT_DIM = 32
HIDDEN_DIM = 16
HERE = pathlib.Path(__file__).resolve().parent


def weights():
    rng = np.random.default_rng(SEED)

    def linear(fan_in, fan_out):
        # Same spread as a freshly initialised torch.nn.Linear.
        bound = 1.0 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, size=(fan_out,)).astype(np.float32)
        return w, b

    fc1_w, fc1_b = linear(INPUT_DIM, HIDDEN_DIM)
    fc2_w, fc2_b = linear(HIDDEN_DIM, 1)
    return {"fc1.weight": fc1_w, "fc1.bias": fc1_b, "fc2.weight": fc2_w, "fc2.bias": fc2_b}


def write_onnx(w, path):
    inits = [numpy_helper.from_array(v, name) for name, v in w.items()]
    nodes = [
        helper.make_node("Gemm", ["features", "fc1.weight", "fc1.bias"], ["h1"], transB=1),
        helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "fc2.weight", "fc2.bias"], ["logit"], transB=1),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes,
        "anomaly_detector",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", INPUT_DIM])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="simrun-models"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def write_safetensors(w, path):
    # Written by hand rather than with the safetensors package: its header
    # order varies between runs, and we want byte-identical files.
    metadata = {
        "format": "simrun-mlp-v1",
        "architecture": "linear-relu-linear-sigmoid",
        "layers": "fc1,fc2",
        "input": "features",
        "input_dim": str(INPUT_DIM),
        "hidden_dim": str(HIDDEN_DIM),
        "output": "probability",
        "output_dim": "1",
    }
    header = {"__metadata__": metadata}
    data = b""
    for name in sorted(w):
        raw = np.ascontiguousarray(w[name], dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(w[name].shape),
            "data_offsets": [len(data), len(data) + len(raw)],
        }
        data += raw
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def main():
    w = weights()
    write_onnx(w, HERE / "anomaly_detector.onnx")
    write_safetensors(w, HERE / "anomaly_detector.safetensors")
    print("wrote", HERE / "anomaly_detector.onnx", "and", HERE / "anomaly_detector.safetensors")


if __name__ == "__main__":
    main()
