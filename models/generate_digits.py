#!/usr/bin/env python3
"""Generate the labelled digits workload: a data file and two trained models.

scikit-learn's copy of the handwritten digits (1,797 images of 8x8 pixels,
values 0-16, ten classes) is split by a fixed seed into 1,257 training rows
and 540 test rows. The test rows go to `data/digits-test.csv` (64 pixel
columns p0..p63 as integers, then `label`). Two models of the same task are
trained on the training rows with plain full-batch gradient descent in numpy
(no framework, fixed seeds, fixed iteration counts):

- `digits_small.onnx`: softmax regression, Gemm(64 -> 10) -> Softmax, for
  ONNX Runtime;
- `digits_big.safetensors`: an MLP 64 -> 64 (ReLU) -> 10 (softmax) in the
  `simrun-dense-v1` family (layers listed in the header metadata), for candle.

Both take raw pixel values (the 1/16 scaling is folded into the first
layer's weights) and output ten class probabilities. The script prints each
model's accuracy on the test rows, which the README and docs/models.md quote.

    python3 -m venv /tmp/modelgen
    /tmp/modelgen/bin/pip install -r models/requirements.txt
    /tmp/modelgen/bin/python models/generate_digits.py

Data licence: the digits are the UCI "Optical Recognition of Handwritten
Digits" test set (E. Alpaydin, C. Kaynak, 1998) as bundled in scikit-learn
(BSD-3-Clause); the UCI repository licenses the data set CC BY 4.0. The
models are simrun's own (same licence as simrun).
"""
import json
import pathlib
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits

SEED = 20261127
TEST_ROWS = 540
HERE = pathlib.Path(__file__).resolve().parent


def split():
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(SEED).permutation(len(y))
    test, train = order[:TEST_ROWS], order[TEST_ROWS:]
    return x[train], y[train], x[test], y[test]


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train_small(x, y, steps=60, lr=0.5):
    """Softmax regression on x/16; few steps on purpose, so the small model is the weaker one."""
    xs = x / 16.0
    onehot = np.eye(10)[y]
    w = np.zeros((10, 64))
    b = np.zeros(10)
    for _ in range(steps):
        p = softmax(xs @ w.T + b)
        g = (p - onehot) / len(y)
        w -= lr * g.T @ xs
        b -= lr * g.sum(axis=0)
    return w / 16.0, b


def train_big(x, y, hidden=64, steps=1500, lr=0.5):
    """MLP on x/16 with momentum; returns weights for raw pixels."""
    rng = np.random.default_rng(SEED + 1)
    xs = x / 16.0
    onehot = np.eye(10)[y]
    w1 = rng.normal(0, np.sqrt(2 / 64), (hidden, 64))
    b1 = np.zeros(hidden)
    w2 = rng.normal(0, np.sqrt(1 / hidden), (10, hidden))
    b2 = np.zeros(10)
    params = [w1, b1, w2, b2]
    velocity = [np.zeros_like(p) for p in params]
    for _ in range(steps):
        h = np.maximum(xs @ w1.T + b1, 0)
        p = softmax(h @ w2.T + b2)
        g2 = (p - onehot) / len(y)
        gh = (g2 @ w2) * (h > 0)
        grads = [gh.T @ xs, gh.sum(axis=0), g2.T @ h, g2.sum(axis=0)]
        for param, v, g in zip(params, velocity, grads):
            v *= 0.9
            v -= lr * g
            param += v
    return w1 / 16.0, b1, w2, b2


def accuracy(predict, x, y):
    return float((predict(x).argmax(axis=1) == y).mean())


def write_onnx(w, b, path):
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["pixels", "dense.weight", "dense.bias"], ["logits"], transB=1),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "digits_small",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        initializer=[
            numpy_helper.from_array(w.astype(np.float32), "dense.weight"),
            numpy_helper.from_array(b.astype(np.float32), "dense.bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="simrun-models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def write_dense(tensors, layers, path, extra):
    """A simrun-dense-v1 safetensors file, written by hand for a stable byte order."""
    metadata = {"format": "simrun-dense-v1", "layers": json.dumps(layers, separators=(",", ":")), **extra}
    header = {"__metadata__": metadata}
    data = b""
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def write_csv(x, y, path):
    lines = [",".join([f"p{i}" for i in range(64)] + ["label"])]
    lines += [",".join(str(int(v)) for v in row) + f",{int(label)}" for row, label in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")


def main():
    x_train, y_train, x_test, y_test = split()
    w, b = train_small(x_train, y_train)
    w1, b1, w2, b2 = train_big(x_train, y_train)
    small = lambda x: softmax(x @ w.T + b)
    big = lambda x: softmax(np.maximum(x @ w1.T + b1, 0) @ w2.T + b2)
    (HERE / "data").mkdir(exist_ok=True)
    write_csv(x_test, y_test, HERE / "data" / "digits-test.csv")
    write_onnx(w, b, HERE / "digits_small.onnx")
    write_dense(
        {"fc1.weight": w1, "fc1.bias": b1, "fc2.weight": w2, "fc2.bias": b2},
        [
            {"weight": "fc1.weight", "bias": "fc1.bias", "activation": "relu"},
            {"weight": "fc2.weight", "bias": "fc2.bias", "activation": "softmax"},
        ],
        HERE / "digits_big.safetensors",
        {"input": "pixels", "output": "probabilities"},
    )
    print(f"test rows {len(y_test)}: small (ONNX) accuracy {accuracy(small, x_test, y_test):.4f}, "
          f"big (safetensors) accuracy {accuracy(big, x_test, y_test):.4f}")


if __name__ == "__main__":
    main()
